package org.vizwiz.vqa

import android.app.Activity
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.view.View
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
 * Loads the bundle (timed, with the memory loading added), runs one first inference, the
 * warm-up and the timed runs at batch 1 on a real preprocessed input (the first sample of
 * `samples`, else the bundled easy-VQA photo with "What is this?"), then in accuracy mode
 * answers every sample and writes the predictions; last it writes the result row (the core's
 * writer: temporary name, then rename), which the host waits for. Everything runs off the main
 * thread; a bundle that cannot run gives an error row, never a crash.
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
        val request = Request.from(intent.extras, getExternalFilesDir(null))
        if (request == null) {
            status.text = "Benchmark mode needs the extra 'bundle' (see docs/ios_benchmark.md)"
            return
        }
        scope.launch {
            val summary = withContext(Dispatchers.Default) { measure(request) }
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

    private fun measure(request: Request): String {
        val device = ResultRow.Device(
            name = Build.MODEL,
            os = "Android ${Build.VERSION.RELEASE}",
            arch = Build.SUPPORTED_ABIS.firstOrNull(),
            cpuCount = Runtime.getRuntime().availableProcessors(),
        )
        val manifest = try {
            Manifest.read(request.bundle)
        } catch (err: Exception) {
            return writeError(request, null, device, err)
        }
        var model: VqaModel? = null
        try {
            val before = MemoryStats.rssBytes()
            val loadStart = System.nanoTime()
            model = VqaModel.load(request.bundle, request.threads)
            val loadMs = (System.nanoTime() - loadStart) / 1e6
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
                    SampleSet.Prediction(sample.key, sample.question, model.answer(Images.decode(sample.image), sample.question))
                }
                SampleSet.writePredictions(predictions, request.predictions)
                notes += "accuracy mode: ${predictions.size} samples of ${samples.data} ${samples.split} answered on the phone"
            }
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
        } catch (err: Exception) {
            return writeError(request, manifest, device, err)
        } finally {
            model?.close()
        }
    }

    private fun writeError(request: Request, manifest: Manifest?, device: ResultRow.Device, err: Exception): String {
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
