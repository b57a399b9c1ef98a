package org.vizwiz.vqa.core

/**
 * Why to retake a photo, from its pixels, before the model runs: too dark, too bright or
 * blurred. The same check as `vqa/quality.py` (its docstring has the calibration), checked
 * against tests/golden/quality.json:
 *
 * 1. RGB, shrunk with PIL's bicubic ([Bicubic]) so that the longer side is at most
 *    [ANALYSIS_SIDE] (aspect kept: each side `(side * 256 + longer / 2) / longer`, at least 1);
 *    smaller images are used as they are.
 * 2. Integer luma x 1000 per pixel: 299 R + 587 G + 114 B.
 * 3. Mean luma (0-255), the share of pixels with luma >= [BRIGHT_LUMA], and the variance of the
 *    4-neighbour Laplacian of luma over the interior pixels from exact integer sums (not judged
 *    below [MIN_BLUR_SIDE] pixels).
 * 4. The verdict, first match wins: too dark, too bright, blurred, ok.
 */
object ImageQuality {
    const val ANALYSIS_SIDE = 256
    const val DARK_MEAN_LUMA = 40.0
    const val BRIGHT_LUMA = 245
    const val BRIGHT_FRACTION = 0.4
    const val BLUR_LAPLACIAN_VAR = 100.0
    const val MIN_BLUR_SIDE = 16

    /** In the order they are tested; [key] is the golden vectors' (and vqa.quality's) name. */
    enum class Verdict(val key: String) {
        TOO_DARK("too_dark"),
        TOO_BRIGHT("too_bright"),
        BLURRED("blurred"),
        OK("ok"),
    }

    /** The figures of the small copy ([width] x [height]); [laplacianVar] is null for tiny images. */
    data class Report(
        val verdict: Verdict,
        val meanLuma: Double,
        val brightFraction: Double,
        val laplacianVar: Double?,
        val width: Int,
        val height: Int,
    ) {
        val ok: Boolean get() = verdict == Verdict.OK
    }

    /** The size of the small copy: longer side [ANALYSIS_SIDE], or the image's own when smaller. */
    fun analysisSize(width: Int, height: Int): Pair<Int, Int> {
        if (width < 1 || height < 1) throw CoreException("image size ${width}x$height is empty")
        val longer = maxOf(width, height)
        if (longer <= ANALYSIS_SIDE) return width to height
        val half = longer / 2
        return maxOf(1, ((width.toLong() * ANALYSIS_SIDE + half) / longer).toInt()) to
            maxOf(1, ((height.toLong() * ANALYSIS_SIDE + half) / longer).toInt())
    }

    /** Android's Bitmap.getPixels layout: one ARGB int per pixel, row-major. */
    fun assessArgb(pixels: IntArray, width: Int, height: Int): Report = assess(RgbPlanes.fromArgb(pixels, width, height), width, height)

    /** Raw 8-bit RGBA bytes, row-major. */
    fun assessRgba(bytes: ByteArray, width: Int, height: Int): Report = assess(RgbPlanes.fromRgba(bytes, width, height), width, height)

    /** 8-bit RGB planes of the whole photo: shrunk to [analysisSize], then judged. */
    fun assess(planes: Array<IntArray>, width: Int, height: Int): Report {
        val (w, h) = analysisSize(width, height)
        val small = if (w == width && h == height) planes else Bicubic.resize(planes, width, height, w, h)
        return assessSmall(small, w, h)
    }

    /** The verdict for RGB planes that already are the small copy. */
    fun assessSmall(planes: Array<IntArray>, width: Int, height: Int): Report {
        if (planes.size != 3) throw CoreException("expected 3 planes (R, G, B), got ${planes.size}")
        for (plane in planes) RgbPlanes.checkSize(plane.size, width, height, 1)
        val n = width * height
        val luma = LongArray(n) { 299L * planes[0][it] + 587L * planes[1][it] + 114L * planes[2][it] }
        var sum = 0L
        var bright = 0
        for (v in luma) {
            sum += v
            if (v >= BRIGHT_LUMA * 1000L) bright++
        }
        val meanLuma = sum.toDouble() / (1000.0 * n)
        val brightFraction = bright.toDouble() / n
        val laplacianVar = if (minOf(width, height) >= MIN_BLUR_SIDE) laplacianVariance(luma, width, height) else null
        val verdict = when {
            meanLuma < DARK_MEAN_LUMA -> Verdict.TOO_DARK
            brightFraction >= BRIGHT_FRACTION -> Verdict.TOO_BRIGHT
            laplacianVar != null && laplacianVar < BLUR_LAPLACIAN_VAR -> Verdict.BLURRED
            else -> Verdict.OK
        }
        return Report(verdict, meanLuma, brightFraction, laplacianVar, width, height)
    }

    /** Variance of 4 x centre - the 4 neighbours over the interior, on the 0-255 luma scale. */
    private fun laplacianVariance(luma: LongArray, width: Int, height: Int): Double {
        var total = 0L
        var squares = 0L
        for (y in 1 until height - 1) {
            val row = y * width
            for (x in 1 until width - 1) {
                val i = row + x
                val lap = 4 * luma[i] - luma[i - width] - luma[i + width] - luma[i - 1] - luma[i + 1]
                total += lap
                squares += lap * lap
            }
        }
        val count = ((width - 2).toLong() * (height - 2)).toDouble()
        val mean = total / count
        return (squares / count - mean * mean) / 1e6
    }

    /**
     * What to tell the user, in plain words, or null when the photo looks fine; `torchOn` says
     * whether the app already switched the torch on for this photo.
     */
    fun advice(verdict: Verdict, torchOn: Boolean = false): String? = when (verdict) {
        Verdict.TOO_DARK -> if (torchOn) "The photo is too dark, even with the torch on. Turn on a light." else "The photo is too dark. Turn on a light or the torch."
        Verdict.TOO_BRIGHT -> "The photo is too bright. Turn away from the light or the window."
        Verdict.BLURRED -> "The photo is blurred. Hold the phone still, a little further away."
        Verdict.OK -> null
    }
}
