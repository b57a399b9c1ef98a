package org.vizwiz.vqa.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import kotlin.math.abs

class PreprocessorGoldenTest {
    private fun spec(size: Int, mean: FloatArray, std: FloatArray) =
        Manifest.Preprocessing(size, mean, std, 1.0 / 255, "NCHW", "RGB")

    @Test
    fun tensorsMatchTheGoldenWithinTheStatedTolerance() {
        val golden = Golden.json("preprocess.json")
        val tolerance = golden.getDouble("tolerance")
        val cases = golden.getJSONArray("cases")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val w = case.getInt("width")
            val h = case.getInt("height")
            val size = case.getInt("image_size")
            val mean = Golden.doubles(case.getJSONArray("mean")).map { it.toFloat() }.toFloatArray()
            val std = Golden.doubles(case.getJSONArray("std")).map { it.toFloat() }.toFloatArray()
            val rgba = File(Golden.dir, case.getString("pixels_file")).readBytes()
            val expected = Golden.doubles(case.getJSONArray("values"))
            assertArrayEquals(intArrayOf(1, 3, size, size), Golden.ints(case.getJSONArray("shape")))
            val fromRgba = Preprocessor(spec(size, mean, std)).processRgba(rgba, w, h)
            val argb = IntArray(w * h) {
                val r = rgba[it * 4].toInt() and 0xff
                val g = rgba[it * 4 + 1].toInt() and 0xff
                val b = rgba[it * 4 + 2].toInt() and 0xff
                val a = rgba[it * 4 + 3].toInt() and 0xff
                (a shl 24) or (r shl 16) or (g shl 8) or b
            }
            val fromArgb = Preprocessor(spec(size, mean, std)).processArgb(argb, w, h)
            assertEquals(expected.size, fromRgba.size)
            var worst = 0.0
            for (j in expected.indices) worst = maxOf(worst, abs(fromRgba[j] - expected[j]))
            assertTrue("${case.getString("name")}: max |diff| $worst > $tolerance", worst <= tolerance)
            assertArrayEquals(fromRgba, fromArgb, 0f)
        }
    }

    @Test
    fun sameSizeImageIsOnlyNormalized() {
        val pixels = IntArray(4) { 0xff000000.toInt() or (it * 60 shl 16) or (255 shl 8) }
        val out = Preprocessor(spec(2, floatArrayOf(0.5f, 0.5f, 0.5f), floatArrayOf(0.5f, 0.5f, 0.5f))).processArgb(pixels, 2, 2)
        // by hand: red 0, 60, 120, 180 -> (x / 255 - 0.5) / 0.5; green 255 -> 1; blue 0 -> -1
        val red = floatArrayOf(0f, 60f, 120f, 180f).map { (it / 255f - 0.5f) / 0.5f }
        assertArrayEquals(red.toFloatArray() + FloatArray(4) { 1f } + FloatArray(4) { -1f }, out, 0f)
    }

    @Test
    fun wrongPixelCountIsRefused() {
        try {
            Preprocessor(spec(4, floatArrayOf(0f, 0f, 0f), floatArrayOf(1f, 1f, 1f))).processArgb(IntArray(5), 2, 3)
            fail("accepted 5 pixels for 2x3")
        } catch (err: CoreException) {
            assertTrue(err.message!!.contains("2x3"))
        }
    }
}
