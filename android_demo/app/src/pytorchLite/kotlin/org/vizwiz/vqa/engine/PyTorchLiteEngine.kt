package org.vizwiz.vqa.engine

import org.pytorch.IValue
import org.pytorch.LiteModuleLoader
import org.pytorch.Module
import org.pytorch.PyTorchAndroid
import org.pytorch.Tensor
import org.vizwiz.vqa.core.Manifest

/**
 * TorchScript-mobile (`.ptl`) through PyTorch Android Lite 1.13.1, the last release of PyTorch
 * Mobile (deprecated upstream in favour of ExecuTorch). The exporter writes bytecode v8 and
 * avoids operators newer than that release (manifest `runtime.bytecode_version`). Its native
 * libraries are 4 KB page aligned: on 16 KB-page devices (many Android 15+ phones) they do not
 * load, and this engine says so instead of crashing.
 */
class PyTorchLiteEngine(private val manifest: Manifest, threads: Int) : InferenceEngine {
    private val module: Module

    override val runtimeName = "pytorch-lite"
    override val runtimeVersion = "1.13.1"
    override val details: Map<String, Any?>

    init {
        val bytecode = manifest.runtime.optInt("bytecode_version", -1)
        if (bytecode > MAX_BYTECODE) {
            throw EngineException(
                "${manifest.modelFile} has bytecode v$bytecode; PyTorch Android Lite 1.13.1 this app runs v4-v$MAX_BYTECODE there: export it again with this toolkit",
            )
        }
        module = try {
            PyTorchAndroid.setNumThreads(threads)
            LiteModuleLoader.load(manifest.modelPath.path)
        } catch (err: UnsatisfiedLinkError) {
            throw EngineException(
                "PyTorch Android Lite cannot load on this phone (its native libraries are not 16 KB page aligned; " +
                    "page size ${pageSize()} bytes): use the onnx or executorch bundle",
                err,
            )
        } catch (err: RuntimeException) {
            throw EngineException("PyTorch Android Lite cannot load ${manifest.modelFile}: ${err.message}", err)
        }
        details = mapOf("bytecode_version" to bytecode.takeIf { it >= 0 }, "threads" to threads)
    }

    override fun run(image: FloatArray, question: LongArray, paddingMask: LongArray): FloatArray {
        val output = try {
            module.forward(
                IValue.from(Tensor.fromBlob(image, imageShape(manifest))),
                IValue.from(Tensor.fromBlob(question, textShape(manifest))),
                IValue.from(Tensor.fromBlob(paddingMask, textShape(manifest))),
            )
        } catch (err: RuntimeException) {
            throw EngineException("PyTorch Android Lite failed: ${err.message}", err)
        }
        return output.toTensor().dataAsFloatArray
    }

    override fun close() {
        module.destroy()
    }

    companion object {
        const val MAX_BYTECODE = 8

        private fun pageSize(): Long = try {
            android.system.Os.sysconf(android.system.OsConstants._SC_PAGESIZE)
        } catch (err: Exception) {
            -1
        }
    }
}
