package org.vizwiz.vqa.engine

import org.vizwiz.vqa.core.Manifest

/** The runtimes of the "standard" build besides ONNX Runtime: ExecuTorch. */
internal object FlavorEngines {
    const val FORMATS = "onnx, executorch"

    fun open(manifest: Manifest, threads: Int): InferenceEngine = when (manifest.format) {
        "executorch" -> ExecuTorchEngine(manifest, threads)
        "torchscript" -> throw EngineException(
            "This build of the app has no PyTorch Lite runtime for ${manifest.modelFile}. Choose an onnx or executorch model, or install the PyTorch Lite build.",
        )
        else -> throw EngineException("A ${manifest.format} model cannot run on Android. Choose an onnx or executorch model.")
    }
}
