package org.vizwiz.vqa.engine

import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import org.vizwiz.vqa.core.Manifest

/**
 * ExecuTorch (`.pte`, XNNPACK-delegated) through org.pytorch:executorch-android: the program is
 * memory-mapped from its path (LOAD_MODE_MMAP) with the requested threads, as ExecuTorch's
 * Android demo apps load it.
 */
class ExecuTorchEngine(private val manifest: Manifest, threads: Int) : InferenceEngine {
    private val module: Module = try {
        Module.load(manifest.modelPath.path, Module.LOAD_MODE_MMAP, threads)
    } catch (err: RuntimeException) {
        throw EngineException("ExecuTorch cannot load ${manifest.modelFile}: ${err.message}", err)
    }

    override val runtimeName = "executorch"
    override val runtimeVersion: String? = manifest.runtime.optString("executorch_version").ifEmpty { null }
    override val details: Map<String, Any?> = mapOf("load_mode" to "mmap", "threads" to threads)

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
        return outputs[0].toTensor().dataAsFloatArray
    }

    override fun close() {
        module.destroy()
    }
}
