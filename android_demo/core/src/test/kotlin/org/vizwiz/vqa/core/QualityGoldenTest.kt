package org.vizwiz.vqa.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import kotlin.math.abs

/** The image-quality check against vqa.quality's numbers (tests/golden/quality.json). */
class QualityGoldenTest {
    /** The case's image: every pixel of the stored one repeated `repeat` times along both axes. */
    private fun upscaled(rgba: ByteArray, width: Int, height: Int, repeat: Int): ByteArray {
        val w = width * repeat
        val out = ByteArray(w * height * repeat * 4)
        for (y in 0 until height * repeat) {
            for (x in 0 until w) {
                System.arraycopy(rgba, ((y / repeat) * width + x / repeat) * 4, out, (y * w + x) * 4, 4)
            }
        }
        return out
    }

    private fun close(name: String, what: String, expected: Double, actual: Double, tolerance: Double) {
        val scale = maxOf(abs(expected), 1e-300)
        assertTrue("$name: $what $actual, expected $expected", abs(actual - expected) / scale <= tolerance || actual == expected)
    }

    @Test
    fun thresholdsAreVqaQualitys() {
        val golden = Golden.json("quality.json")
        assertEquals(ImageQuality.ANALYSIS_SIDE, golden.getInt("analysis_side"))
        val t = golden.getJSONObject("thresholds")
        assertEquals(ImageQuality.DARK_MEAN_LUMA, t.getDouble("dark_mean_luma"), 0.0)
        assertEquals(ImageQuality.BRIGHT_LUMA, t.getInt("bright_luma"))
        assertEquals(ImageQuality.BRIGHT_FRACTION, t.getDouble("bright_fraction"), 0.0)
        assertEquals(ImageQuality.BLUR_LAPLACIAN_VAR, t.getDouble("blur_laplacian_var"), 0.0)
        assertEquals(ImageQuality.MIN_BLUR_SIDE, t.getInt("min_blur_side"))
    }

    @Test
    fun everyCaseMatchesTheGolden() {
        val golden = Golden.json("quality.json")
        val tolerance = golden.getDouble("relative_tolerance")
        val cases = golden.getJSONArray("cases")
        val verdicts = HashSet<String>()
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val name = case.getString("name")
            val pw = case.getInt("pixels_width")
            val ph = case.getInt("pixels_height")
            val repeat = case.getInt("repeat")
            val rgba = upscaled(File(Golden.dir, case.getString("pixels_file")).readBytes(), pw, ph, repeat)
            val width = case.getInt("width")
            val height = case.getInt("height")
            assertEquals(name, pw * repeat, width)
            assertEquals(name, ph * repeat, height)
            assertEquals(name, case.getInt("analysis_width") to case.getInt("analysis_height"), ImageQuality.analysisSize(width, height))
            val report = ImageQuality.assessRgba(rgba, width, height)
            assertEquals(name, case.getInt("analysis_width"), report.width)
            assertEquals(name, case.getInt("analysis_height"), report.height)
            assertEquals(name, case.getString("verdict"), report.verdict.key)
            close(name, "mean_luma", case.getDouble("mean_luma"), report.meanLuma, tolerance)
            close(name, "bright_fraction", case.getDouble("bright_fraction"), report.brightFraction, tolerance)
            if (case.isNull("laplacian_var")) {
                assertNull(name, report.laplacianVar)
            } else {
                assertNotNull(name, report.laplacianVar)
                close(name, "laplacian_var", case.getDouble("laplacian_var"), report.laplacianVar!!, tolerance)
            }
            verdicts += report.verdict.key
        }
        assertEquals(setOf("too_dark", "too_bright", "blurred", "ok"), verdicts)
    }

    @Test
    fun handWorkedFlatGreyImage() {
        // by hand: a flat 20 x 20 image of (100, 50, 200): luma (29900 + 29350 + 22800) / 1000 = 82.05,
        // nothing bright, a zero Laplacian everywhere, so variance 0 < 100: blurred.
        val pixels = IntArray(400) { (0xff shl 24) or (100 shl 16) or (50 shl 8) or 200 }
        val report = ImageQuality.assessArgb(pixels, 20, 20)
        assertEquals(82.05, report.meanLuma, 1e-12)
        assertEquals(0.0, report.brightFraction, 0.0)
        assertEquals(0.0, report.laplacianVar!!, 0.0)
        assertEquals(ImageQuality.Verdict.BLURRED, report.verdict)
        assertNotNull(ImageQuality.advice(report.verdict))
        assertNull(ImageQuality.advice(ImageQuality.Verdict.OK))
    }

    @Test
    fun analysisSizeRoundsAsThePythonReference() {
        // by hand: (4000 * 256 + 2000) / 4000 = 256, (3000 * 256 + 2000) / 4000 = 192 (192.5 floored after + half)
        assertEquals(256 to 192, ImageQuality.analysisSize(4000, 3000))
        assertEquals(1 to 256, ImageQuality.analysisSize(1, 5000))
        assertEquals(100 to 50, ImageQuality.analysisSize(100, 50))
    }
}
