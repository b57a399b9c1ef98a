package org.vizwiz.vqa.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import java.io.File
import javax.imageio.ImageIO

/** The core's PNG reader on files the JDK's own PNG writer makes (tests only; the core never uses javax). */
class PngImageTest {
    private fun golden(): Triple<ByteArray, Int, Int> {
        val case = Golden.json("preprocess.json").getJSONArray("cases").getJSONObject(0)
        return Triple(File(Golden.dir, case.getString("pixels_file")).readBytes(), case.getInt("width"), case.getInt("height"))
    }

    private fun png(image: BufferedImage): ByteArray = ByteArrayOutputStream().also { ImageIO.write(image, "png", it) }.toByteArray()

    @Test
    fun rgbAndRgbaGiveTheStoredPixels() {
        val (rgba, w, h) = golden()
        val argb = IntArray(w * h) {
            ((rgba[it * 4 + 3].toInt() and 0xff) shl 24) or ((rgba[it * 4].toInt() and 0xff) shl 16) or
                ((rgba[it * 4 + 1].toInt() and 0xff) shl 8) or (rgba[it * 4 + 2].toInt() and 0xff)
        }
        val expected = RgbPlanes.fromRgba(rgba, w, h)
        for (type in listOf(BufferedImage.TYPE_INT_RGB, BufferedImage.TYPE_INT_ARGB)) {
            val image = BufferedImage(w, h, type).apply { setRGB(0, 0, w, h, argb, 0, w) }
            val decoded = PngImage.decode(png(image))
            assertEquals(w, decoded.width)
            assertEquals(h, decoded.height)
            for (c in 0 until 3) assertArrayEquals(expected[c], decoded.planes[c])
        }
    }

    @Test
    fun grayIsReplicated() {
        val image = BufferedImage(5, 3, BufferedImage.TYPE_BYTE_GRAY)
        val values = IntArray(15) { it * 17 }
        image.raster.setSamples(0, 0, 5, 3, 0, values)
        val decoded = PngImage.decode(png(image))
        for (c in 0 until 3) assertArrayEquals(values, decoded.planes[c])
    }

    @Test
    fun aBrokenFileIsRefusedInOneLine() {
        val bytes = png(BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB))
        bytes[20] = (bytes[20] + 1).toByte() // inside IHDR: its CRC no longer matches
        for (broken in listOf(bytes, bytes.copyOf(30), "not a png".toByteArray())) {
            try {
                PngImage.decode(broken)
                fail("decoded a broken PNG")
            } catch (err: CoreException) {
                assertTrue(err.message!!, err.message!!.lines().size == 1)
            }
        }
    }
}
