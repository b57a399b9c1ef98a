package org.vizwiz.vqa.core

import kotlin.math.ceil

/**
 * The model's image input from 8-bit pixels: RGB (alpha dropped), squash-resized to S x S with
 * PIL's bicubic filter, then (x * scale - mean) / std, NCHW float32; what
 * `vqa.transforms.eval_transform` does on the host.
 *
 * The resize reproduces Pillow's Resample.c for 8-bit images: a separable filter (a = -0.5)
 * whose support is widened by the scale when downscaling (antialiasing), coefficients
 * normalized to sum 1 and stored as 22-bit fixed-point integers, two passes whose results are
 * rounded and clipped to uint8, in Pillow 13's order (vertical first when the height shrinks more
 * than twice as much as the width, else horizontal first). So the resized pixels are PIL's, bit
 * for bit (checked against Pillow 13.0.0 by the golden vectors), and one resize serves phone and
 * host.
 */
class Preprocessor(private val spec: Manifest.Preprocessing) {
    val imageSize: Int get() = spec.imageSize

    /** Pixels as Android's Bitmap.getPixels gives them: one ARGB int per pixel, row-major. */
    fun processArgb(pixels: IntArray, width: Int, height: Int): FloatArray {
        checkSize(pixels.size, width, height, 1)
        val planes = Array(3) { IntArray(width * height) }
        for (i in 0 until width * height) {
            val p = pixels[i]
            planes[0][i] = (p ushr 16) and 0xff
            planes[1][i] = (p ushr 8) and 0xff
            planes[2][i] = p and 0xff
        }
        return process(planes, width, height)
    }

    /** Raw 8-bit RGBA bytes, row-major, 4 bytes a pixel. */
    fun processRgba(bytes: ByteArray, width: Int, height: Int): FloatArray {
        checkSize(bytes.size, width, height, 4)
        val planes = Array(3) { c -> IntArray(width * height) { bytes[it * 4 + c].toInt() and 0xff } }
        return process(planes, width, height)
    }

    /** The resized 8-bit RGB planes, before normalization (what PIL's resize returns). */
    fun resize(planes: Array<IntArray>, width: Int, height: Int): Array<IntArray> {
        val size = spec.imageSize
        val needHorizontal = width != size
        val needVertical = height != size
        // Pillow 13: when the height shrinks more than twice as much as the width, the vertical
        // pass runs first. The order matters: each pass rounds to uint8.
        val horizontalFirst = !((height - size) > 0 && (height - size) > (width - size) * 2)
        var current = planes
        var w = width
        var h = height
        fun horizontal() {
            val coeffs = Coefficients(w, size)
            val src = current
            val rows = h
            val cols = w
            current = Array(3) { c -> resampleHorizontal(src[c], cols, rows, coeffs) }
            w = size
        }
        fun vertical() {
            val coeffs = Coefficients(h, size)
            val src = current
            val rows = h
            val cols = w
            current = Array(3) { c -> resampleVertical(src[c], cols, rows, coeffs) }
            h = size
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

    private fun process(planes: Array<IntArray>, width: Int, height: Int): FloatArray {
        val resized = resize(planes, width, height)
        val size = spec.imageSize
        val out = FloatArray(3 * size * size)
        // x / 255 (torchvision's ToDtype(scale=True)) when scale is 1/255, else x * scale.
        val divisor = (1.0 / spec.scale)
        val divide = Math.abs(divisor - Math.rint(divisor)) < 1e-9
        val d = divisor.toFloat()
        val s = spec.scale.toFloat()
        for (c in 0 until 3) {
            val mean = spec.mean[c]
            val std = spec.std[c]
            val plane = resized[c]
            val base = c * size * size
            for (i in 0 until size * size) {
                val x = if (divide) plane[i].toFloat() / d else plane[i].toFloat() * s
                out[base + i] = (x - mean) / std
            }
        }
        return out
    }

    private fun checkSize(length: Int, width: Int, height: Int, per: Int) {
        if (width < 1 || height < 1) throw CoreException("image size ${width}x$height is empty")
        if (length.toLong() != width.toLong() * height * per) {
            throw CoreException("image of ${width}x$height needs ${width.toLong() * height * per} values, got $length")
        }
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

    companion object {
        private const val PRECISION_BITS = 32 - 8 - 2
        private const val SUPPORT = 2.0
        private const val A = -0.5

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
}
