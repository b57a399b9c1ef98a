package org.vizwiz.vqa.core

import kotlin.math.ceil

/**
 * PIL's bicubic resize of 8-bit images (Pillow's Resample.c), bit for bit: a separable filter
 * (a = -0.5) whose support is widened by the scale when downscaling (antialiasing), coefficients
 * normalized to sum 1 and stored as 22-bit fixed-point integers, two passes whose results are
 * rounded and clipped to uint8, in Pillow 13's order (vertical first when the height shrinks more
 * than twice as much as the width, else horizontal first). Checked against Pillow 13.0.0 by the
 * golden vectors (preprocess.json: square outputs; quality.json: aspect-kept small copies).
 */
object Bicubic {
    private const val PRECISION_BITS = 32 - 8 - 2
    private const val SUPPORT = 2.0
    private const val A = -0.5

    /** The planes (one IntArray of 0..255 a channel, row-major) resized to outWidth x outHeight. */
    fun resize(planes: Array<IntArray>, width: Int, height: Int, outWidth: Int, outHeight: Int): Array<IntArray> {
        if (outWidth < 1 || outHeight < 1) throw CoreException("resize to ${outWidth}x$outHeight is empty")
        val needHorizontal = width != outWidth
        val needVertical = height != outHeight
        // The order matters: each pass rounds to uint8.
        val horizontalFirst = !((height - outHeight) > 0 && (height - outHeight) > (width - outWidth) * 2)
        var current = planes
        var w = width
        var h = height
        fun horizontal() {
            val coeffs = Coefficients(w, outWidth)
            val src = current
            val rows = h
            val cols = w
            current = Array(src.size) { c -> resampleHorizontal(src[c], cols, rows, coeffs) }
            w = outWidth
        }
        fun vertical() {
            val coeffs = Coefficients(h, outHeight)
            val src = current
            val rows = h
            val cols = w
            current = Array(src.size) { c -> resampleVertical(src[c], cols, rows, coeffs) }
            h = outHeight
        }
        if (horizontalFirst) {
            if (needHorizontal) horizontal()
            if (needVertical) vertical()
        } else {
            if (needVertical) vertical()
            if (needHorizontal) horizontal()
        }
        return current
    }

    /** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
    internal class Coefficients(inSize: Int, outSize: Int) {
        val ksize: Int
        val bounds = IntArray(outSize * 2)
        val kk: IntArray

        init {
            val scale = inSize.toFloat().toDouble() / outSize
            val filterScale = maxOf(scale, 1.0)
            val support = SUPPORT * filterScale
            ksize = ceil(support).toInt() * 2 + 1
            val weights = DoubleArray(outSize * ksize)
            val invFilterScale = 1.0 / filterScale
            for (xx in 0 until outSize) {
                val center = (xx + 0.5) * scale
                var xmin = (center - support + 0.5).toInt()
                if (xmin < 0) xmin = 0
                var xmax = (center + support + 0.5).toInt()
                if (xmax > inSize) xmax = inSize
                xmax -= xmin
                var ww = 0.0
                for (x in 0 until xmax) {
                    val w = bicubic((x + xmin - center + 0.5) * invFilterScale)
                    weights[xx * ksize + x] = w
                    ww += w
                }
                if (ww != 0.0) for (x in 0 until xmax) weights[xx * ksize + x] /= ww
                bounds[xx * 2] = xmin
                bounds[xx * 2 + 1] = xmax
            }
            kk = IntArray(weights.size) {
                val w = weights[it]
                if (w < 0) (-0.5 + w * (1 shl PRECISION_BITS)).toInt() else (0.5 + w * (1 shl PRECISION_BITS)).toInt()
            }
        }
    }

    private fun bicubic(value: Double): Double {
        val x = if (value < 0.0) -value else value
        if (x < 1.0) return ((A + 2.0) * x - (A + 3.0)) * x * x + 1
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * A
        return 0.0
    }

    private fun clip8(ss: Int): Int {
        val v = ss shr PRECISION_BITS
        return if (v < 0) 0 else if (v > 255) 255 else v
    }

    private fun resampleHorizontal(src: IntArray, width: Int, height: Int, k: Coefficients): IntArray {
        val outW = k.bounds.size / 2
        val out = IntArray(outW * height)
        for (y in 0 until height) {
            val row = y * width
            for (xx in 0 until outW) {
                val xmin = k.bounds[xx * 2]
                val xmax = k.bounds[xx * 2 + 1]
                var ss = 1 shl (PRECISION_BITS - 1)
                for (x in 0 until xmax) ss += src[row + x + xmin] * k.kk[xx * k.ksize + x]
                out[y * outW + xx] = clip8(ss)
            }
        }
        return out
    }

    private fun resampleVertical(src: IntArray, width: Int, height: Int, k: Coefficients): IntArray {
        val outH = k.bounds.size / 2
        val out = IntArray(width * outH)
        for (yy in 0 until outH) {
            val ymin = k.bounds[yy * 2]
            val ymax = k.bounds[yy * 2 + 1]
            for (x in 0 until width) {
                var ss = 1 shl (PRECISION_BITS - 1)
                for (y in 0 until ymax) ss += src[(y + ymin) * width + x] * k.kk[yy * k.ksize + y]
                out[yy * width + x] = clip8(ss)
            }
        }
        return out
    }
}

/** 8-bit RGB planes from the pixel layouts the platforms give; alpha is dropped, as PIL's convert("RGB"). */
object RgbPlanes {
    /** Android's Bitmap.getPixels layout: one ARGB int per pixel, row-major. */
    fun fromArgb(pixels: IntArray, width: Int, height: Int): Array<IntArray> {
        checkSize(pixels.size, width, height, 1)
        val planes = Array(3) { IntArray(width * height) }
        for (i in 0 until width * height) {
            val p = pixels[i]
            planes[0][i] = (p ushr 16) and 0xff
            planes[1][i] = (p ushr 8) and 0xff
            planes[2][i] = p and 0xff
        }
        return planes
    }

    /** Raw 8-bit RGBA bytes, row-major, 4 bytes a pixel. */
    fun fromRgba(bytes: ByteArray, width: Int, height: Int): Array<IntArray> {
        checkSize(bytes.size, width, height, 4)
        return Array(3) { c -> IntArray(width * height) { bytes[it * 4 + c].toInt() and 0xff } }
    }

    fun checkSize(length: Int, width: Int, height: Int, per: Int) {
        if (width < 1 || height < 1) throw CoreException("image size ${width}x$height is empty")
        if (length.toLong() != width.toLong() * height * per) {
            throw CoreException("image of ${width}x$height needs ${width.toLong() * height * per} values, got $length")
        }
    }
}
