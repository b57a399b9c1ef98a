package org.vizwiz.vqa.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.time.OffsetDateTime
import java.time.temporal.ChronoUnit

/**
 * One benchmark row in the host's results schema (benchmark/schemas/results.schema.json,
 * version 1), as the apps' benchmark modes write it; `python -m benchmark android|ingest`
 * validates it and fills in sizes and the source checkpoint from the bundle's manifest.
 */
data class ResultRow(
    val label: String,
    val format: String,
    val precision: String,
    val quantization: String?,
    val bundlePath: String,
    val modelFile: String?,
    val runtime: Runtime,
    val device: Device,
    val threads: Int?,
    val latency: Latency?,
    val memory: Memory?,
    val status: String = "ok",
    val error: String? = null,
    val source: String = "android-app",
    val notes: List<String> = emptyList(),
    val runId: String? = null,
    val created: String = OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).toString(),
    val checkpointSha256: String? = null,
    val config: String? = null,
    val imageSize: Int? = null,
    val textLen: Int? = null,
) {
    data class Runtime(val name: String, val version: String?, val details: Map<String, Any?> = emptyMap())

    /**
     * The phone; [thermalStart] / [thermalEnd] are its thermal status before the bundle loads and
     * after the last run (PowerManager's status names in lower case, [THERMAL_STATUSES]), written
     * at the row's top level as `thermal_start` / `thermal_end` when known (the results schema's
     * fields, which the host and the iOS app write too).
     */
    data class Device(
        val name: String,
        val os: String,
        val arch: String?,
        val cpuCount: Int?,
        val thermalStart: String? = null,
        val thermalEnd: String? = null,
    ) {
        init {
            for (status in listOfNotNull(thermalStart, thermalEnd)) {
                if (status !in THERMAL_STATUSES) throw CoreException("thermal status '$status' is not one of $THERMAL_STATUSES")
            }
        }
    }

    /** Times in milliseconds: load, the first inference after loading, warm-up count, timed runs. */
    data class Latency(val loadMs: Double?, val firstInferenceMs: Double?, val warmup: Int, val samplesMs: DoubleArray)

    data class Memory(val peakRssBytes: Long?, val loadRssBytes: Long?, val modelFileBytes: Long?, val bundleBytes: Long?)

    init {
        if (source !in SOURCES) throw CoreException("source '$source' is not one of $SOURCES")
        if (status !in STATUSES) throw CoreException("status '$status' is not one of $STATUSES")
        if (status == "ok" && (latency == null || memory == null)) throw CoreException("an ok row needs latency and memory")
        if (threads != null && threads < 1) throw CoreException("threads must be at least 1, got $threads")
        if (latency != null && latency.warmup < 0) throw CoreException("warmup must be >= 0, got ${latency.warmup}")
    }

    fun toJson(): JSONObject {
        val row = JSONObject()
        row.put("schema_version", 1)
        if (runId != null) row.put("run_id", runId)
        row.put("created", created)
        row.put("status", status)
        row.put("error", error ?: JSONObject.NULL)
        row.put("source", source)
        row.put("role", "bundle")
        row.put("label", label)
        row.put("format", format)
        row.put("precision", precision)
        row.put("quantization", quantization ?: JSONObject.NULL)
        row.put("bundle", JSONObject().put("path", bundlePath).apply { if (modelFile != null) put("model_file", modelFile) })
        row.put(
            "model",
            if (checkpointSha256 == null) JSONObject.NULL else JSONObject()
                .put("checkpoint_sha256", checkpointSha256)
                .put("config", config ?: JSONObject.NULL)
                .put("image_size", imageSize ?: JSONObject.NULL)
                .put("text_len", textLen ?: JSONObject.NULL),
        )
        val details = JSONObject()
        for ((key, value) in runtime.details) details.put(key, value ?: JSONObject.NULL)
        row.put("runtime", JSONObject().put("name", runtime.name).put("version", runtime.version ?: JSONObject.NULL).put("details", details))
        row.put(
            "device",
            JSONObject().put("kind", "phone").put("name", device.name).put("os", device.os)
                .put("arch", device.arch ?: JSONObject.NULL).put("cpu_count", device.cpuCount ?: JSONObject.NULL),
        )
        device.thermalStart?.let { row.put("thermal_start", it) }
        device.thermalEnd?.let { row.put("thermal_end", it) }
        row.put("threads", threads ?: JSONObject.NULL)
        row.put("batch_size", 1)
        row.put("latency_ms", latency?.let(::latencyJson) ?: JSONObject.NULL)
        row.put(
            "memory",
            memory?.let {
                JSONObject().put("peak_rss_bytes", it.peakRssBytes ?: JSONObject.NULL)
                    .put("load_rss_bytes", it.loadRssBytes ?: JSONObject.NULL)
                    .put("model_file_bytes", it.modelFileBytes ?: JSONObject.NULL)
                    .put("bundle_bytes", it.bundleBytes ?: JSONObject.NULL)
            } ?: JSONObject.NULL,
        )
        row.put("accuracy", JSONObject.NULL)
        row.put("roofline", JSONObject.NULL)
        row.put("notes", JSONArray(notes))
        return row
    }

    private fun latencyJson(latency: Latency): JSONObject {
        val s = LatencyStats.summarize(latency.samplesMs)
        val samples = JSONArray()
        for (x in latency.samplesMs) samples.put(x)
        return JSONObject()
            .put("load", latency.loadMs ?: JSONObject.NULL)
            .put("first_inference", latency.firstInferenceMs ?: JSONObject.NULL)
            .put("warmup", latency.warmup)
            .put("runs", s.runs)
            .put("mean", s.mean).put("p50", s.p50).put("p90", s.p90).put("p99", s.p99)
            .put("std", s.std).put("trimmed_mean", s.trimmedMean).put("min", s.min).put("max", s.max)
            .put("samples", samples)
    }

    companion object {
        val SOURCES = setOf("android-app", "ios-app")
        val STATUSES = setOf("ok", "error", "skipped")

        /** android.os.PowerManager.THERMAL_STATUS_NONE .. _SHUTDOWN (0..6), by value. */
        val THERMAL_STATUSES = listOf("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")

        /** The name of a PowerManager thermal status value; null for a value this list does not know. */
        fun thermalName(status: Int): String? = THERMAL_STATUSES.getOrNull(status)

        /** A row whose model, sizes and label come from the bundle's manifest. */
        fun forBundle(
            manifest: Manifest,
            bundlePath: String,
            runtime: Runtime,
            device: Device,
            threads: Int?,
            latency: Latency?,
            memory: Memory?,
            status: String = "ok",
            error: String? = null,
            notes: List<String> = emptyList(),
            source: String = "android-app",
        ): ResultRow = ResultRow(
            label = File(bundlePath).name,
            format = manifest.format,
            precision = manifest.precision,
            quantization = manifest.quantizationScheme,
            bundlePath = bundlePath,
            modelFile = manifest.modelFile,
            runtime = runtime,
            device = device,
            threads = threads,
            latency = latency,
            memory = memory?.copy(
                modelFileBytes = memory.modelFileBytes ?: manifest.modelBytes,
                bundleBytes = memory.bundleBytes ?: manifest.bundleBytes,
            ),
            status = status,
            error = error,
            source = source,
            notes = notes,
            checkpointSha256 = manifest.sourceSha256,
            config = manifest.sourceConfig,
            imageSize = manifest.preprocessing.imageSize,
            textLen = manifest.tokenizer.maxLen,
        )

        /** The rows as a JSON list, written atomically (temporary name, then rename). */
        fun writeAll(rows: List<ResultRow>, file: File) {
            val array = JSONArray()
            rows.forEach { array.put(it.toJson()) }
            AtomicFile.writeText(file, array.toString(1) + "\n")
        }
    }
}
