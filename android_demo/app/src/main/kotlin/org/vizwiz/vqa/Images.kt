package org.vizwiz.vqa

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Matrix
import androidx.camera.core.ImageProxy
import androidx.exifinterface.media.ExifInterface
import org.vizwiz.vqa.core.CoreException
import java.io.File

/** Pixels as the model should see them: upright as the user held the phone, ARGB_8888. */
object Images {
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
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
    }

    /** A photo file with its EXIF orientation applied (rotation and mirroring). */
    fun decodeUpright(file: File): Bitmap {
        val bitmap = decode(file)
        val orientation = ExifInterface(file.path).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
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
     * The stored pixels, no EXIF rotation: what the host's loader (PIL) gives for the accuracy
     * samples, so phone and host score the same pixels.
     */
    fun decode(file: File): Bitmap {
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inScaled = false
            inPremultiplied = false
        }
        return BitmapFactory.decodeFile(file.path, options) ?: throw CoreException("$file: cannot decode image")
    }
}
