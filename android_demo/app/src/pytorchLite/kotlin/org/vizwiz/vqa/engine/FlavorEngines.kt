package org.vizwiz.vqa.engine

import org.vizwiz.vqa.core.Manifest

/** The runtimes of the "pytorchLite" build besides ONNX Runtime: PyTorch Android Lite 1.13.1. */
internal object FlavorEngines {
    const val FORMATS = "onnx, torchscript"

    fun open(manifest: Manifest, threads: Int): InferenceEngine = when (manifest.format) {
        "torchscript" -> PyTorchLiteEngine(manifest, threads)
        "executorch" -> throw EngineException(
            "This build of the app has no ExecuTorch runtime for ${manifest.modelFile}. Choose an onnx or torchscript model, or install the standard build.",
        )
        else -> throw EngineException("A ${manifest.format} model cannot run on Android. Choose an onnx or torchscript model.")
    }
}
