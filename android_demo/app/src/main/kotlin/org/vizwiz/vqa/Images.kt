package org.vizwiz.vqa

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Matrix
import android.net.Uri
import android.content.Context
import androidx.camera.core.ImageProxy
import androidx.exifinterface.media.ExifInterface
import org.vizwiz.vqa.core.CoreException
import org.vizwiz.vqa.core.PngImage
import org.vizwiz.vqa.core.RgbPlanes
import java.nio.ByteBuffer
import java.io.File

/**
 * Pixels as the model should see them: upright as the user held the phone, ARGB_8888. Every
 * function here decodes or copies a whole photo: call them off the main thread.
 */
object Images {
    /** Photos from the picker are decoded at most this many pixels on the longer side (about what the camera is asked for). */
    const val MAX_SIDE = 1280

    /**
     * The 8-bit RGB planes of a bitmap as stored (alpha dropped): the raw bytes
     * (copyPixelsToBuffer), not getPixels, which converts a wide-gamut or ICC-tagged bitmap to
     * sRGB, while PIL on the host leaves the stored values as they are.
     */
    fun rgbPlanes(bitmap: Bitmap): Array<IntArray> {
        val soft = if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
        if (soft.rowBytes != soft.width * 4) return RgbPlanes.fromArgb(argbPixels(soft), soft.width, soft.height)
        val buffer = ByteBuffer.allocate(soft.byteCount)
        soft.copyPixelsToBuffer(buffer) // ARGB_8888 is stored R, G, B, A in memory
        return RgbPlanes.fromRgba(buffer.array(), soft.width, soft.height)
    }

    fun argbPixels(bitmap: Bitmap): IntArray {
        val soft = if (bitmap.config == Bitmap.Config.ARGB_8888) bitmap else bitmap.copy(Bitmap.Config.ARGB_8888, false)
        val pixels = IntArray(soft.width * soft.height)
        soft.getPixels(pixels, 0, soft.width, 0, 0, soft.width, soft.height)
        return pixels
    }

    /** A CameraX capture turned by the rotation the camera reports (sensor vs display). */
    fun upright(image: ImageProxy): Bitmap {
        val bitmap = image.toBitmap()
        val degrees = image.imageInfo.rotationDegrees
        if (degrees == 0) return bitmap
        val matrix = Matrix().apply { postRotate(degrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true).also { if (it !== bitmap) bitmap.recycle() }
    }

    /** A photo the user picked (content URI), subsampled to about [MAX_SIDE], EXIF orientation applied. */
    fun decodeUpright(context: Context, uri: Uri): Bitmap {
        val resolver = context.contentResolver
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        resolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw CoreException("The picked file is not a photo this phone can open.")
        var sample = 1
        while (maxOf(bounds.outWidth, bounds.outHeight) / (sample * 2) >= MAX_SIDE) sample *= 2
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
        }
        val bitmap = resolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw CoreException("The picked file is not a photo this phone can open.")
        val orientation = resolver.openInputStream(uri)?.use {
            ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        } ?: ExifInterface.ORIENTATION_NORMAL
        return oriented(bitmap, orientation)
    }

    /** A photo file with its EXIF orientation applied (rotation and mirroring). */
    fun decodeUpright(file: File): Bitmap {
        val orientation = ExifInterface(file.path).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        return oriented(decode(file), orientation)
    }

    private fun oriented(bitmap: Bitmap, orientation: Int): Bitmap {
        val matrix = Matrix()
        when (orientation) {
            ExifInterface.ORIENTATION_ROTATE_90 -> matrix.postRotate(90f)
            ExifInterface.ORIENTATION_ROTATE_180 -> matrix.postRotate(180f)
            ExifInterface.ORIENTATION_ROTATE_270 -> matrix.postRotate(270f)
            ExifInterface.ORIENTATION_FLIP_HORIZONTAL -> matrix.postScale(-1f, 1f)
            ExifInterface.ORIENTATION_FLIP_VERTICAL -> matrix.postScale(1f, -1f)
            ExifInterface.ORIENTATION_TRANSPOSE -> { matrix.postRotate(90f); matrix.postScale(-1f, 1f) }
            ExifInterface.ORIENTATION_TRANSVERSE -> { matrix.postRotate(270f); matrix.postScale(-1f, 1f) }
            else -> return bitmap
        }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
    }

    /**
     * An accuracy-mode sample as the host's loader (PIL) reads it, so phone and host score the
     * same pixels: PNGs by the core's decoder (every colour type and bit depth as Pillow converts
     * them), other formats by [decode] and their raw bytes.
     */
    fun samplePlanes(file: File): Triple<Array<IntArray>, Int, Int> {
        if (PngImage.isPng(file)) {
            val png = PngImage.read(file)
            return Triple(png.planes, png.width, png.height)
        }
        val bitmap = decode(file)
        return Triple(rgbPlanes(bitmap), bitmap.width, bitmap.height)
    }

    /**
     * The stored pixels, no EXIF rotation, no colour conversion: what the host's loader (PIL)
     * gives for the accuracy samples (Android's JPEG decoder is libjpeg-turbo, as Pillow's; the
     * README lists what is still to be checked on a phone).
     */
    fun decode(file: File): Bitmap {
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inScaled = false
            inPremultiplied = false
            // null: the decoder keeps the image's own colour space where it can, rather than
            // converting to sRGB; rgbPlanes then reads the stored values
            inPreferredColorSpace = null
        }
        return BitmapFactory.decodeFile(file.path, options) ?: throw CoreException("$file: cannot decode image")
    }
}
