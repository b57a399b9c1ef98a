package org.vizwiz.vqa.engine

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import org.vizwiz.vqa.core.Manifest
import java.nio.FloatBuffer
import java.nio.LongBuffer

/**
 * ONNX Runtime Android for `.onnx` and `.ort` bundles (the CPU execution provider; XNNPACK
 * where the bundle's runtime entry asks for it). The session is created from the file path and
 * reused; tensors are closed after every run, as ONNX Runtime's Android samples do.
 */
class OnnxRuntimeEngine(private val manifest: Manifest, threads: Int) : InferenceEngine {
    private val env: OrtEnvironment = OrtEnvironment.getEnvironment()
    private val session: OrtSession
    private val names = manifest.inputs.map { it.name }
    private val output = manifest.outputs.first().name

    override val runtimeName = "onnxruntime"
    override val runtimeVersion: String? = env.version
    override val details: Map<String, Any?>

    init {
        val options = OrtSession.SessionOptions().apply {
            setIntraOpNumThreads(threads)
            setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT)
        }
        val xnnpack = manifest.runtime.optBoolean("xnnpack", false)
        if (xnnpack) options.addXnnpack(mapOf("intra_op_num_threads" to threads.toString()))
        session = try {
            env.createSession(manifest.modelPath.path, options)
        } catch (err: OrtException) {
            throw EngineException("ONNX Runtime cannot load ${manifest.modelFile}: ${err.message}", err)
        } finally {
            options.close()
        }
        details = mapOf("execution_provider" to if (xnnpack) "xnnpack" else "cpu", "intra_op_threads" to threads)
    }

    override fun run(image: FloatArray, question: LongArray, paddingMask: LongArray): FloatArray {
        val tensors = listOf(
            OnnxTensor.createTensor(env, FloatBuffer.wrap(image), imageShape(manifest)),
            OnnxTensor.createTensor(env, LongBuffer.wrap(question), textShape(manifest)),
            OnnxTensor.createTensor(env, LongBuffer.wrap(paddingMask), textShape(manifest)),
        )
        try {
            session.run(names.zip(tensors).toMap(), setOf(output)).use { result ->
                val value = result.get(output).orElseThrow { EngineException("no output '$output'") }
                @Suppress("UNCHECKED_CAST")
                return (value.value as Array<FloatArray>)[0]
            }
        } catch (err: OrtException) {
            throw EngineException("ONNX Runtime failed: ${err.message}", err)
        } finally {
            tensors.forEach { it.close() }
        }
    }

    override fun close() {
        session.close()
    }
}
