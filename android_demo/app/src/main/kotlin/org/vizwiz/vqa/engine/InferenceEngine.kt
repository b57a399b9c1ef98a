package org.vizwiz.vqa.engine

import org.vizwiz.vqa.core.Manifest
import java.io.Closeable

/**
 * One forward pass of a bundle's model, whatever runtime runs it: image NCHW float32, question
 * ids and padding mask (int64, as the manifest's inputs say) in, logits out. Implementations load
 * the model from its file path (never read into the Java heap by this app), release native
 * memory in [close], and are not thread-safe: VqaModel's callers serialise every use (one
 * question at a time, never a close while a run is under way).
 */
interface InferenceEngine : Closeable {
    /** Runtime name and version for the result row, e.g. "onnxruntime" "1.32.0". */
    val runtimeName: String
    val runtimeVersion: String?
    val details: Map<String, Any?>

    fun run(image: FloatArray, question: LongArray, paddingMask: LongArray): FloatArray

    companion object {
        /**
         * The engine for the manifest's `format`: ONNX Runtime in every build, ExecuTorch or
         * PyTorch Lite by build flavor ([FlavorEngines]); a clear [EngineException] otherwise.
         */
        fun open(manifest: Manifest, threads: Int): InferenceEngine {
            require(threads >= 1) { "threads must be at least 1" }
            val model = manifest.dir.resolve(manifest.runtimeModelFile)
            if (!model.isFile) throw EngineException("The model file ${manifest.runtimeModelFile} is missing from the bundle.")
            val dtypes = manifest.inputs.map { it.dtype }
            if (dtypes != listOf("float32", "int64", "int64")) {
                throw EngineException("${manifest.modelFile}: inputs are $dtypes; the Android engines feed float32, int64, int64")
            }
            return when (manifest.format) {
                "onnx" -> OnnxRuntimeEngine(manifest, threads)
                "coreml" -> throw EngineException("Core ML models run on iPhones only. Choose a model made for Android (${FlavorEngines.FORMATS}).")
                else -> FlavorEngines.open(manifest, threads)
            }
        }
    }
}

/** A model that cannot be loaded or run; the message is meant for the user and the result row. */
class EngineException(message: String, cause: Throwable? = null) : Exception(message, cause)

/** The model's input shapes at batch 1, from the preprocessing and tokenizer entries. */
internal fun imageShape(manifest: Manifest): LongArray =
    longArrayOf(1, 3, manifest.preprocessing.imageSize.toLong(), manifest.preprocessing.imageSize.toLong())

internal fun textShape(manifest: Manifest): LongArray = longArrayOf(1, manifest.tokenizer.maxLen.toLong())
