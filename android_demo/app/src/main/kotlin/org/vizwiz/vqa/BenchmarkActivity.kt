package org.vizwiz.vqa

import android.app.Activity
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.os.Build
import android.os.Bundle
import android.os.PowerManager
import android.util.Log
import android.view.View
import android.view.WindowManager
import android.widget.TextView
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.vizwiz.vqa.core.Manifest
import org.vizwiz.vqa.core.ResultRow
import org.vizwiz.vqa.core.SampleSet
import java.io.File

/**
 * The benchmark mode of `python -m benchmark android` (docs/ios_benchmark.md): intent extras
 * `bundle`, `runs`, `warmup`, `threads`, `out`, and for accuracy `samples` and `predictions`.
 *
 * Checks the bundle (manifest, sizes, sha256: not timed, as the host does not time it), opens
 * the engine (timed as load, with the memory it added), runs one first inference, the warm-up
 * and the timed runs at batch 1 on a real preprocessed input (the first sample of `samples`,
 * else the bundled easy-VQA photo with "What is this?"), then in accuracy mode answers every
 * sample and writes the predictions; last it writes the result row (the core's writer:
 * temporary name, then rename), which the host waits for. The row carries the phone's thermal
 * status (PowerManager, Android 10+) before loading and after the last run as
 * the row's `thermal_start` / `thermal_end`. Everything runs off the main thread with the
 * screen kept on; anything thrown, native-library errors included, gives an error row, so the
 * host never waits in vain.
 */
class BenchmarkActivity : Activity() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main)
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        status = TextView(this).apply {
            textSize = 24f
            setPadding(32, 32, 32, 32)
            text = "Benchmark running"
            contentDescription = "Benchmark status"
            accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
        }
        setContentView(status)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val request = Request.from(intent.extras, getExternalFilesDir(null))
        if (request == null) {
            status.text = "Benchmark mode needs the extra 'bundle' (see docs/ios_benchmark.md)"
            return
        }
        scope.launch {
            val summary = withContext(Dispatchers.Default) {
                try {
                    measure(request)
                } catch (err: Throwable) {
                    "Error: the result could not be written (${err.message})"
                }
            }
            status.text = summary
            Log.i(TAG, summary)
            finish()
        }
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private data class Request(
        val bundle: File, val runs: Int, val warmup: Int, val threads: Int, val out: File,
        val samples: File?, val predictions: File?,
    ) {
        companion object {
            fun from(extras: Bundle?, filesDir: File?): Request? {
                val bundle = extras?.getString("bundle")?.let(::File) ?: return null
                val out = extras.getString("out")?.let(::File) ?: File(filesDir, "${bundle.name}.result.json")
                val samples = extras.getString("samples")?.let(::File)
                val predictions = extras.getString("predictions")?.let(::File)
                    ?: samples?.let { File(filesDir, "${bundle.name}.predictions.json") }
                return Request(
                    bundle, extras.getInt("runs", 50).coerceAtLeast(1), extras.getInt("warmup", 10).coerceAtLeast(0),
                    extras.getInt("threads", 4).coerceAtLeast(1), out, samples, predictions,
                )
            }
        }
    }

    /** PowerManager's thermal status by its lower-case name; null before Android 10. */
    private fun thermalStatus(): String? {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.Q) return null
        val power = getSystemService(PowerManager::class.java) ?: return null
        return ResultRow.thermalName(power.currentThermalStatus)
    }

    private fun measure(request: Request): String {
        val thermalStart = thermalStatus()
        var device = ResultRow.Device(
            name = Build.MODEL,
            os = "Android ${Build.VERSION.RELEASE}",
            arch = Build.SUPPORTED_ABIS.firstOrNull(),
            cpuCount = Runtime.getRuntime().availableProcessors(),
            thermalStart = thermalStart,
        )
        val manifest = try {
            Manifest.read(request.bundle)
        } catch (err: Throwable) {
            return writeError(request, null, device, err)
        }
        var model: VqaModel? = null
        try {
            val before = MemoryStats.rssBytes()
            model = VqaModel.open(manifest, request.threads)
            val loadMs = model.engineOpenMs
            val loadRss = MemoryStats.rssBytes()?.let { after -> before?.let { after - it } }
            val samples = request.samples?.let { SampleSet.read(it) }
            val (photo, question) = samples?.samples?.first()?.let { Images.decode(it.image) to it.question }
                ?: (assetPhoto() to Settings.DEFAULT_QUESTION)
            val inputs = model.inputs(photo, question)
            val firstStart = System.nanoTime()
            model.logits(inputs)
            val firstMs = (System.nanoTime() - firstStart) / 1e6
            repeat(request.warmup) { model.logits(inputs) }
            val times = DoubleArray(request.runs) {
                val start = System.nanoTime()
                model.logits(inputs)
                (System.nanoTime() - start) / 1e6
            }
            val peak = MemoryStats.peakRssBytes()
            val notes = mutableListOf<String>()
            if (samples != null && request.predictions != null) {
                val predictions = samples.samples.map { sample ->
                    SampleSet.Prediction(sample.key, sample.question, model.answerSample(sample.image, sample.question))
                }
                SampleSet.writePredictions(predictions, request.predictions)
                notes += "accuracy mode: ${predictions.size} samples of ${samples.data} ${samples.split} answered on the phone"
            }
            device = device.copy(thermalEnd = thermalStatus())
            val row = ResultRow.forBundle(
                manifest = manifest,
                bundlePath = request.bundle.path,
                runtime = ResultRow.Runtime(model.engine.runtimeName, model.engine.runtimeVersion, model.engine.details),
                device = device,
                threads = request.threads,
                latency = ResultRow.Latency(loadMs, firstMs, request.warmup, times),
                memory = ResultRow.Memory(peak, loadRss, null, null),
                notes = notes,
            )
            ResultRow.writeAll(listOf(row), request.out)
            return "Done: ${request.runs} runs, median ${"%.1f".format(java.util.Locale.ROOT, times.sorted()[times.size / 2])} ms. Written to ${request.out}"
        } catch (err: Throwable) {
            // native-library errors (UnsatisfiedLinkError), out of memory: an error row all the same
            return writeError(request, manifest, device.copy(thermalEnd = thermalStatus()), err)
        } finally {
            model?.close()
        }
    }

    private fun writeError(request: Request, manifest: Manifest?, device: ResultRow.Device, err: Throwable): String {
        val message = MainViewModel.messageOf(err)
        val runtime = ResultRow.Runtime("unknown", null)
        val row = if (manifest != null) {
            ResultRow.forBundle(manifest, request.bundle.path, runtime, device, request.threads, null, null, status = "error", error = message)
        } else {
            ResultRow(
                label = request.bundle.name, format = "unknown", precision = "unknown", quantization = null,
                bundlePath = request.bundle.path, modelFile = null, runtime = runtime, device = device,
                threads = request.threads, latency = null, memory = null, status = "error", error = message,
            )
        }
        ResultRow.writeAll(listOf(row), request.out)
        return "Error: $message"
    }

    private fun assetPhoto(): Bitmap = assets.open(BENCHMARK_PHOTO).use { input ->
        BitmapFactory.decodeStream(input, null, BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 })
            ?: error("$BENCHMARK_PHOTO cannot be decoded")
    }

    companion object {
        private const val TAG = "VqaBenchmark"
        const val BENCHMARK_PHOTO = "benchmark.png"
    }
}
