package org.vizwiz.vqa.core

import java.io.ByteArrayOutputStream
import java.io.File
import java.util.zip.CRC32
import java.util.zip.DataFormatException
import java.util.zip.Inflater

/**
 * PNG files to the 8-bit RGB pixels Pillow's `Image.open(f).convert("RGB")` gives, in pure
 * Kotlin, so that phone and host read every PNG type alike (Android's decoder scales 16-bit
 * gray where Pillow clips it): every colour type and bit depth, Adam7 interlacing, checked
 * CRCs. Converted as Pillow 13 does: gray replicated (1 bit to 0/255, 2 and 4 bits scaled to
 * 0-255, 16 bits clipped at 255 as its `I;16` mode is), 16-bit colour and gray-with-alpha by
 * their high byte, palettes looked up, alpha and transparency dropped; no gamma or ICC.
 */
object PngImage {
    class Decoded(val planes: Array<IntArray>, val width: Int, val height: Int)

    private val SIGNATURE = byteArrayOf(-119, 80, 78, 71, 13, 10, 26, 10)

    fun isPng(head: ByteArray): Boolean = head.size >= 8 && (0 until 8).all { head[it] == SIGNATURE[it] }

    fun isPng(file: File): Boolean = file.inputStream().use { input ->
        val head = ByteArray(8)
        input.read(head) == 8 && isPng(head)
    }

    fun read(file: File): Decoded = try {
        decode(file.readBytes())
    } catch (err: CoreException) {
        throw CoreException("$file: ${err.message}")
    }

    fun decode(bytes: ByteArray): Decoded {
        if (!isPng(bytes)) throw CoreException("not a PNG file")
        var pos = 8
        var width = 0
        var height = 0
        var depth = 0
        var colorType = -1
        var interlaced = false
        var palette = IntArray(0)
        val idat = ByteArrayOutputStream()
        var ended = false
        while (!ended) {
            if (pos + 12 > bytes.size) throw CoreException("truncated PNG (no IEND chunk)")
            val length = int32(bytes, pos)
            if (length < 0 || pos + 12L + length > bytes.size) throw CoreException("truncated PNG chunk")
            val type = String(bytes, pos + 4, 4, Charsets.ISO_8859_1)
            val crc = CRC32().apply { update(bytes, pos + 4, length + 4) }.value
            if (crc != (int32(bytes, pos + 8 + length).toLong() and 0xffffffffL)) throw CoreException("broken PNG file (CRC of $type)")
            val data = pos + 8
            when (type) {
                "IHDR" -> {
                    width = int32(bytes, data)
                    height = int32(bytes, data + 4)
                    depth = bytes[data + 8].toInt() and 0xff
                    colorType = bytes[data + 9].toInt() and 0xff
                    interlaced = bytes[data + 12].toInt() == 1
                    val depths = mapOf(0 to setOf(1, 2, 4, 8, 16), 2 to setOf(8, 16), 3 to setOf(1, 2, 4, 8), 4 to setOf(8, 16), 6 to setOf(8, 16))
                    if (depths[colorType]?.contains(depth) != true) throw CoreException("PNG colour type $colorType at $depth bits is not valid")
                    if (width < 1 || height < 1 || width.toLong() * height > (1L shl 28)) throw CoreException("PNG size ${width}x$height is not supported")
                }
                "PLTE" -> palette = IntArray(length / 3) {
                    ((bytes[data + it * 3].toInt() and 0xff) shl 16) or ((bytes[data + it * 3 + 1].toInt() and 0xff) shl 8) or (bytes[data + it * 3 + 2].toInt() and 0xff)
                }
                "IDAT" -> idat.write(bytes, data, length)
                "IEND" -> ended = true
            }
            pos += 12 + length
        }
        if (colorType < 0) throw CoreException("PNG without IHDR")
        if (colorType == 3 && palette.isEmpty()) throw CoreException("palette PNG without PLTE")
        val channels = when (colorType) { 0 -> 1; 2 -> 3; 3 -> 1; 4 -> 2; else -> 4 }
        val raw = inflate(idat.toByteArray())
        val samples = IntArray(width * height * channels)
        var offset = 0
        if (!interlaced) {
            offset = unfilter(raw, offset, width, height, channels, depth) { x, y, c, v -> samples[(y * width + x) * channels + c] = v }
        } else {
            for ((xs, ys, dx, dy) in ADAM7) {
                val w = (width - xs + dx - 1) / dx
                val h = (height - ys + dy - 1) / dy
                if (w <= 0 || h <= 0) continue
                offset = unfilter(raw, offset, w, h, channels, depth) { x, y, c, v ->
                    samples[((ys + y * dy) * width + xs + x * dx) * channels + c] = v
                }
            }
        }
        return Decoded(toRgb(samples, width * height, colorType, depth, palette), width, height)
    }

    private val ADAM7 = listOf(
        listOf(0, 0, 8, 8), listOf(4, 0, 8, 8), listOf(0, 4, 4, 8), listOf(2, 0, 4, 4),
        listOf(0, 2, 2, 4), listOf(1, 0, 2, 2), listOf(0, 1, 1, 2),
    )

    private fun int32(b: ByteArray, i: Int): Int =
        ((b[i].toInt() and 0xff) shl 24) or ((b[i + 1].toInt() and 0xff) shl 16) or ((b[i + 2].toInt() and 0xff) shl 8) or (b[i + 3].toInt() and 0xff)

    private fun inflate(data: ByteArray): ByteArray {
        val inflater = Inflater()
        try {
            inflater.setInput(data)
            val out = ByteArrayOutputStream(data.size * 4)
            val buffer = ByteArray(1 shl 16)
            while (!inflater.finished()) {
                val n = inflater.inflate(buffer)
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) throw CoreException("truncated PNG image data")
                out.write(buffer, 0, n)
            }
            return out.toByteArray()
        } catch (err: DataFormatException) {
            throw CoreException("broken PNG image data (${err.message})")
        } finally {
            inflater.end()
        }
    }

    /** Reverses the scanline filters of one (sub)image starting at `offset`; returns the offset after it. */
    private inline fun unfilter(raw: ByteArray, offset: Int, w: Int, h: Int, channels: Int, depth: Int, put: (Int, Int, Int, Int) -> Unit): Int {
        val bitsPerPixel = channels * depth
        val rowBytes = (w * bitsPerPixel + 7) / 8
        val bpp = maxOf(1, bitsPerPixel / 8)
        if (offset + (rowBytes + 1).toLong() * h > raw.size) throw CoreException("truncated PNG image data")
        var previous = ByteArray(rowBytes)
        var current = ByteArray(rowBytes)
        var pos = offset
        for (y in 0 until h) {
            val filter = raw[pos].toInt()
            System.arraycopy(raw, pos + 1, current, 0, rowBytes)
            pos += rowBytes + 1
            for (i in 0 until rowBytes) {
                val a = if (i >= bpp) current[i - bpp].toInt() and 0xff else 0
                val b = previous[i].toInt() and 0xff
                val c = if (i >= bpp) previous[i - bpp].toInt() and 0xff else 0
                val x = current[i].toInt() and 0xff
                current[i] = when (filter) {
                    0 -> x
                    1 -> x + a
                    2 -> x + b
                    3 -> x + ((a + b) ushr 1)
                    4 -> {
                        val p = a + b - c
                        val pa = Math.abs(p - a)
                        val pb = Math.abs(p - b)
                        val pc = Math.abs(p - c)
                        x + if (pa <= pb && pa <= pc) a else if (pb <= pc) b else c
                    }
                    else -> throw CoreException("PNG filter type $filter is not valid")
                }.toByte()
            }
            for (xIndex in 0 until w) {
                for (ch in 0 until channels) {
                    val v = when (depth) {
                        8 -> current[xIndex * channels + ch].toInt() and 0xff
                        16 -> ((current[(xIndex * channels + ch) * 2].toInt() and 0xff) shl 8) or (current[(xIndex * channels + ch) * 2 + 1].toInt() and 0xff)
                        else -> { // 1, 2, 4 bits: one channel, most significant bits first
                            val bit = xIndex * depth
                            ((current[bit / 8].toInt() and 0xff) ushr (8 - depth - bit % 8)) and ((1 shl depth) - 1)
                        }
                    }
                    put(xIndex, y, ch, v)
                }
            }
            val t = previous
            previous = current
            current = t
        }
        return pos
    }

    private fun toRgb(samples: IntArray, n: Int, colorType: Int, depth: Int, palette: IntArray): Array<IntArray> {
        val channels = samples.size / n
        fun gray(v: Int): Int = when (depth) {
            1 -> if (v != 0) 255 else 0
            2 -> v * 85
            4 -> v * 17
            8 -> v
            else -> if (colorType == 0) minOf(v, 255) else v ushr 8 // I;16 clips; LA;16B keeps the high byte
        }
        return when (colorType) {
            0, 4 -> IntArray(n) { gray(samples[it * channels]) }.let { g -> arrayOf(g, g.copyOf(), g.copyOf()) }
            3 -> Array(3) { c -> IntArray(n) { i -> palette.getOrElse(samples[i]) { 0 } ushr (16 - 8 * c) and 0xff } }
            else -> Array(3) { c -> IntArray(n) { i -> samples[i * channels + c].let { if (depth == 16) it ushr 8 else it } } }
        }
    }
}
