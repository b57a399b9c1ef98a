package org.vizwiz.vqa

import android.graphics.Bitmap
import org.vizwiz.vqa.core.AnswerDecoder
import org.vizwiz.vqa.core.Manifest
import org.vizwiz.vqa.core.Preprocessor
import org.vizwiz.vqa.core.SentencePieceTokenizer
import org.vizwiz.vqa.engine.InferenceEngine
import java.io.Closeable
import java.io.File

/**
 * A loaded bundle: the core's tokenizer, preprocessing and decoding around one engine. Every
 * method blocks; callers run them on a background dispatcher.
 */
class VqaModel private constructor(
    val manifest: Manifest,
    val engine: InferenceEngine,
    private val tokenizer: SentencePieceTokenizer,
    private val preprocessor: Preprocessor,
    private val decoder: AnswerDecoder,
) : Closeable {
    /** The model's three inputs for one photo and question. */
    class Inputs(val image: FloatArray, val question: LongArray, val paddingMask: LongArray)

    fun inputs(bitmap: Bitmap, question: String): Inputs {
        val pixels = Images.argbPixels(bitmap)
        val image = preprocessor.processArgb(pixels, bitmap.width, bitmap.height)
        val encoding = tokenizer.encode(question, manifest.tokenizer.maxLen)
        return Inputs(
            image,
            LongArray(encoding.ids.size) { encoding.ids[it].toLong() },
            LongArray(encoding.paddingMask.size) { encoding.paddingMask[it].toLong() },
        )
    }

    fun logits(inputs: Inputs): FloatArray = engine.run(inputs.image, inputs.question, inputs.paddingMask)

    fun decode(logits: FloatArray): AnswerDecoder.Decoded = decoder.decode(logits)

    fun answer(bitmap: Bitmap, question: String): AnswerDecoder.Decoded = decode(logits(inputs(bitmap, question)))

    override fun close() = engine.close()

    companion object {
        /** Reads and checks the bundle (sizes, sha256), then loads its model with `threads`. */
        fun load(bundleDir: File, threads: Int): VqaModel {
            val manifest = Manifest.read(bundleDir)
            val tokenizer = manifest.tokenizer()
            val decoder = AnswerDecoder.of(manifest)
            val engine = InferenceEngine.open(manifest, threads)
            return VqaModel(manifest, engine, tokenizer, Preprocessor(manifest.preprocessing), decoder)
        }
    }
}
