package org.vizwiz.vqa

import android.graphics.Bitmap
import org.vizwiz.vqa.core.AnswerDecoder
import org.vizwiz.vqa.core.ImageQuality
import org.vizwiz.vqa.core.Manifest
import org.vizwiz.vqa.core.Preprocessor
import org.vizwiz.vqa.core.SentencePieceTokenizer
import org.vizwiz.vqa.engine.InferenceEngine
import java.io.Closeable

/**
 * A loaded bundle: the core's tokenizer, preprocessing, quality check and decoding around one
 * engine. Every method blocks and none is thread-safe: callers run them on a background
 * dispatcher, one at a time (MainViewModel holds a mutex; the benchmark mode has one thread).
 */
class VqaModel private constructor(
    val manifest: Manifest,
    val engine: InferenceEngine,
    /** Milliseconds the engine took to open (the runtime's load), without the manifest checks. */
    val engineOpenMs: Double,
    private val tokenizer: SentencePieceTokenizer,
    private val preprocessor: Preprocessor,
    private val decoder: AnswerDecoder,
) : Closeable {
    /** The model's three inputs for one photo and question, and the photo's quality. */
    class Inputs(val image: FloatArray, val question: LongArray, val paddingMask: LongArray, val quality: ImageQuality.Report)

    fun inputs(bitmap: Bitmap, question: String): Inputs = inputs(Images.rgbPlanes(bitmap), bitmap.width, bitmap.height, question)

    /** From 8-bit RGB planes; one copy of the pixels serves the quality check and the preprocessing. */
    fun inputs(planes: Array<IntArray>, width: Int, height: Int, question: String): Inputs {
        val quality = ImageQuality.assess(planes, width, height)
        val image = preprocessor.processPlanes(planes, width, height)
        val encoding = tokenizer.encode(question, manifest.tokenizer.maxLen)
        return Inputs(
            image,
            LongArray(encoding.ids.size) { encoding.ids[it].toLong() },
            LongArray(encoding.paddingMask.size) { encoding.paddingMask[it].toLong() },
            quality,
        )
    }

    fun logits(inputs: Inputs): FloatArray = engine.run(inputs.image, inputs.question, inputs.paddingMask)

    fun decode(logits: FloatArray): AnswerDecoder.Decoded = decoder.decode(logits)

    fun answer(bitmap: Bitmap, question: String): AnswerDecoder.Decoded = decode(logits(inputs(bitmap, question)))

    /** An accuracy-mode sample file, read as the host reads it ([Images.samplePlanes]). */
    fun answerSample(file: java.io.File, question: String): AnswerDecoder.Decoded {
        val (planes, width, height) = Images.samplePlanes(file)
        return decode(logits(inputs(planes, width, height, question)))
    }

    override fun close() = engine.close()

    companion object {
        /** The bundle, already read and checked (sizes, sha256), opened with `threads`. */
        fun open(manifest: Manifest, threads: Int): VqaModel {
            val tokenizer = manifest.tokenizer()
            val decoder = AnswerDecoder.of(manifest)
            val start = System.nanoTime()
            val engine = InferenceEngine.open(manifest, threads)
            val openMs = (System.nanoTime() - start) / 1e6
            return VqaModel(manifest, engine, openMs, tokenizer, Preprocessor(manifest.preprocessing), decoder)
        }
    }
}
