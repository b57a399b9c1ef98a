package org.vizwiz.vqa.engine

import org.vizwiz.vqa.core.Manifest
import java.io.Closeable

/**
 * One forward pass of a bundle's model, whatever runtime runs it: image NCHW float32, question
 * ids and padding mask (int64, as the manifest's inputs say) in, logits out. Implementations load
 * the model from its file path (memory-mapped by the runtime, never read into the Java heap),
 * release native memory in [close], and are called from one background thread at a time.
 */
interface InferenceEngine : Closeable {
    /** Runtime name and version for the result row, e.g. "onnxruntime" "1.32.0". */
    val runtimeName: String
    val runtimeVersion: String?
    val details: Map<String, Any?>

    fun run(image: FloatArray, question: LongArray, paddingMask: LongArray): FloatArray

    companion object {
        /** The engine for the manifest's `format`; a clear [EngineException] where it cannot load. */
        fun open(manifest: Manifest, threads: Int): InferenceEngine {
            require(threads >= 1) { "threads must be at least 1" }
            val model = manifest.modelPath
            if (!model.isFile) throw EngineException("${model.path}: the model file is missing")
            val dtypes = manifest.inputs.map { it.dtype }
            if (dtypes != listOf("float32", "int64", "int64")) {
                throw EngineException("${manifest.modelFile}: inputs are $dtypes; the Android engines feed float32, int64, int64")
            }
            return when (manifest.format) {
                "onnx" -> OnnxRuntimeEngine(manifest, threads)
                "executorch" -> ExecuTorchEngine(manifest, threads)
                "torchscript" -> PyTorchLiteEngine(manifest, threads)
                "coreml" -> throw EngineException("Core ML bundles run on iOS only; export onnx, executorch or torchscript for Android")
                else -> throw EngineException("format '${manifest.format}' has no Android runtime")
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
