package org.vizwiz.vqa.core

/**
 * The model's image input from 8-bit pixels: RGB (alpha dropped), squash-resized to S x S with
 * PIL's bicubic filter, then (x * scale - mean) / std, NCHW float32; what
 * `vqa.transforms.eval_transform` does on the host.
 *
 * The resize is [Bicubic], PIL's 8-bit bicubic reproduced bit for bit, so one resize serves
 * phone and host.
 */
class Preprocessor(private val spec: Manifest.Preprocessing) {
    val imageSize: Int get() = spec.imageSize

    /** Pixels as Android's Bitmap.getPixels gives them: one ARGB int per pixel, row-major. */
    fun processArgb(pixels: IntArray, width: Int, height: Int): FloatArray =
        process(RgbPlanes.fromArgb(pixels, width, height), width, height)

    /** Raw 8-bit RGBA bytes, row-major, 4 bytes a pixel. */
    fun processRgba(bytes: ByteArray, width: Int, height: Int): FloatArray =
        process(RgbPlanes.fromRgba(bytes, width, height), width, height)

    /** The resized 8-bit RGB planes, before normalization (what PIL's resize returns). */
    fun resize(planes: Array<IntArray>, width: Int, height: Int): Array<IntArray> =
        Bicubic.resize(planes, width, height, spec.imageSize, spec.imageSize)

    /** 8-bit RGB planes (one IntArray of 0..255 a channel, row-major), e.g. from a decoder of any image type. */
    fun processPlanes(planes: Array<IntArray>, width: Int, height: Int): FloatArray {
        if (planes.size != 3) throw CoreException("expected 3 planes (R, G, B), got ${planes.size}")
        for (plane in planes) RgbPlanes.checkSize(plane.size, width, height, 1)
        return process(planes, width, height)
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
}
