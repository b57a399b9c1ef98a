package org.vizwiz.vqa.core

import org.json.JSONArray
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

class ResultRowTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private fun row(status: String = "ok", latency: ResultRow.Latency? = ResultRow.Latency(120.5, 80.0, 3, doubleArrayOf(10.0, 12.0, 11.0, 30.0)), memory: ResultRow.Memory? = ResultRow.Memory(300L, 100L, 4096L, null)) = ResultRow(
        label = "student-onnx-int8", format = "onnx", precision = "int8", quantization = "dynamic-int8",
        bundlePath = "/data/local/tmp/vqa_bench/student-onnx-int8", modelFile = "model.onnx",
        runtime = ResultRow.Runtime("onnxruntime", "1.22.0", mapOf("execution_provider" to "cpu")),
        device = ResultRow.Device("Pixel 8", "Android 15", "arm64-v8a", 9), threads = 4,
        latency = latency, memory = memory, status = status, error = if (status == "ok") null else "cannot load",
        created = "2026-11-29T10:00:00Z",
    )

    @Test
    fun rowFollowsTheResultsSchemaFields() {
        val file = tmp.root.resolve("out/r.json")
        ResultRow.writeAll(listOf(row()), file)
        val rows = JSONArray(file.readText())
        val r = rows.getJSONObject(0)
        assertEquals(1, r.getInt("schema_version"))
        assertEquals("android-app", r.getString("source"))
        assertEquals("phone", r.getJSONObject("device").getString("kind"))
        val latency = r.getJSONObject("latency_ms")
        // by hand: samples 10, 11, 12, 30 -> mean 15.75, p50 11.5, trimmed (cut 0) 15.75
        assertEquals(15.75, latency.getDouble("mean"), 1e-12)
        assertEquals(11.5, latency.getDouble("p50"), 1e-12)
        assertEquals(4, latency.getInt("runs"))
        assertEquals(3, latency.getInt("warmup"))
        assertEquals(4096L, r.getJSONObject("memory").getLong("model_file_bytes"))
        assertTrue(r.getJSONObject("memory").isNull("bundle_bytes"))
        assertEquals(listOf("r.json"), file.parentFile.list()!!.toList()) // no temporary file left
    }

    @Test
    fun errorRowsHaveNoFigures() {
        val r = row(status = "error", latency = null, memory = null).toJson()
        assertTrue(r.isNull("latency_ms") && r.isNull("memory"))
        assertEquals("cannot load", r.getString("error"))
    }

    @Test
    fun anOkRowWithoutFiguresIsRefused() {
        try {
            row(latency = null)
            fail("accepted an ok row without latency")
        } catch (err: CoreException) {
            assertTrue(err.message!!.contains("needs latency"))
        }
    }

    @Test
    fun thermalStatusIsWrittenWhenKnown() {
        val plain = row().toJson()
        assertTrue(!plain.has("thermal_start") && !plain.has("thermal_end"))
        val device = ResultRow.Device("Pixel 8", "Android 15", "arm64-v8a", 9, ResultRow.thermalName(0), ResultRow.thermalName(2))
        val written = row().copy(device = device).toJson()
        assertTrue(!written.getJSONObject("device").has("thermal_start"))
        // PowerManager: THERMAL_STATUS_NONE = 0, THERMAL_STATUS_MODERATE = 2
        assertEquals("none", written.getString("thermal_start"))
        assertEquals("moderate", written.getString("thermal_end"))
        assertEquals(null, ResultRow.thermalName(7))
        try {
            ResultRow.Device("Pixel 8", "Android 15", null, null, "hot", null)
            fail("accepted thermal status 'hot'")
        } catch (err: CoreException) {
            assertTrue(err.message!!.contains("'hot'"))
        }
    }
}
