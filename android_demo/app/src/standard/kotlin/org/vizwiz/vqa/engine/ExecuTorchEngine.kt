package org.vizwiz.vqa.engine

import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.vizwiz.vqa.core.Manifest

/**
 * ExecuTorch (`.pte`, XNNPACK-delegated) through org.pytorch:executorch-android: the program is
 * memory-mapped from its path (LOAD_MODE_MMAP) with the requested threads, as ExecuTorch's
 * Android demo apps load it, and its `forward` method is loaded when the engine opens, so an
 * operator or backend the runtime lacks fails here, not at the first question, and the first
 * inference does not include method loading.
 */
class ExecuTorchEngine(private val manifest: Manifest, threads: Int) : InferenceEngine {
    private val module: Module = try {
        Module.load(manifest.modelPath.path, Module.LOAD_MODE_MMAP, threads)
    } catch (err: RuntimeException) {
        throw EngineException("ExecuTorch cannot load ${manifest.modelFile}: ${err.message}", err)
    }

    init {
        val code = try {
            module.loadMethod(METHOD)
        } catch (err: RuntimeException) {
            module.destroy()
            throw EngineException("ExecuTorch cannot load the $METHOD method of ${manifest.modelFile}: ${err.message}", err)
        }
        if (code != 0) {
            module.destroy()
            throw EngineException(
                "ExecuTorch cannot load the $METHOD method of ${manifest.modelFile} (error 0x${code.toString(16)}): " +
                    "the model needs an operator or backend this app's runtime lacks",
            )
        }
    }

    override val runtimeName = "executorch"
    override val runtimeVersion: String? = manifest.runtime.optString("executorch_version").ifEmpty { null }
    override val details: Map<String, Any?> = mapOf("load_mode" to "mmap", "threads" to threads, "method_loaded_at_open" to true)

    override fun run(image: FloatArray, question: LongArray, paddingMask: LongArray): FloatArray {
        val outputs = try {
            module.forward(
                EValue.from(Tensor.fromBlob(image, imageShape(manifest))),
                EValue.from(Tensor.fromBlob(question, textShape(manifest))),
                EValue.from(Tensor.fromBlob(paddingMask, textShape(manifest))),
            )
        } catch (err: RuntimeException) {
            throw EngineException("ExecuTorch failed: ${err.message}", err)
        }
        if (outputs.isEmpty()) throw EngineException("ExecuTorch returned no output")
        return outputs[0].toTensor().dataAsFloatArray
    }

    override fun close() {
        module.destroy()
    }

    private companion object {
        const val METHOD = "forward"
    }
}
