package org.vizwiz.vqa.engine

import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import org.vizwiz.vqa.core.Manifest
import java.nio.FloatBuffer
import java.nio.LongBuffer

/**
 * ONNX Runtime Android for ONNX bundles: the session is created from the path of the bundle's
 * ORT-format file (`runtime.ort_file`, optimized at export for the target), or of `model.onnx`
 * when a bundle has none, with the CPU execution provider, and reused; tensors are closed after
 * every run, as ONNX Runtime's Android samples do.
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
            // The thread pool stops spinning when a run returns: one question at a time, and a
            // pool left spinning between questions burns battery for nothing.
            addConfigEntry("session.force_spinning_stop", "1")
        }
        val file = manifest.runtimeModelFile
        session = try {
            env.createSession(manifest.dir.resolve(file).path, options)
        } catch (err: OrtException) {
            throw EngineException("ONNX Runtime cannot load $file: ${err.message}", err)
        } finally {
            options.close()
        }
        details = mapOf("execution_provider" to "cpu", "intra_op_threads" to threads, "model_file" to file)
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
