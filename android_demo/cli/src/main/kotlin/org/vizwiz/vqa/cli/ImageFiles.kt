package org.vizwiz.vqa.cli

import org.vizwiz.vqa.core.CoreException
import org.vizwiz.vqa.core.PngImage
import java.awt.color.ColorSpace
import java.awt.image.BufferedImage
import java.awt.image.IndexColorModel
import java.awt.image.Raster
import java.io.File
import javax.imageio.IIOException
import javax.imageio.ImageIO
import javax.imageio.ImageReader
import javax.imageio.metadata.IIOMetadataNode

/**
 * Image files to the 8-bit RGB pixels PIL's `Image.open(f).convert("RGB")` gives, for every image
 * type a data set can hold: PNGs by the core's [PngImage] (as the app's accuracy mode reads
 * them); other formats through javax.imageio, the stored samples are read from the raster (no colour-management,
 * gamma or ICC conversion, which PIL does not do either), then converted as Pillow 13 converts:
 * gray replicated (1, 2 and 4 bits scaled to 0-255, 16 bits clipped at 255 as `I;16` is), 16-bit
 * colour and gray-with-alpha by their high byte, palettes looked up, alpha dropped, and CMYK
 * JPEGs by Pillow's `cmyk2rgb`. JPEG decoders may still differ from
 * libjpeg-turbo by a level on some pixels.
 */
object ImageFiles {
    class Decoded(val planes: Array<IntArray>, val width: Int, val height: Int)

    fun read(file: File): Decoded {
        if (file.isFile && PngImage.isPng(file)) {
            // PNGs through the core's own decoder, the one the app's accuracy mode uses
            val png = PngImage.read(file)
            return Decoded(png.planes, png.width, png.height)
        }
        val input = try {
            ImageIO.createImageInputStream(file)
        } catch (err: java.io.IOException) {
            throw CoreException("$file: cannot read (${err.message})")
        } ?: throw CoreException("$file: cannot read")
        input.use {
            val readers = ImageIO.getImageReaders(input)
            if (!readers.hasNext()) throw CoreException("$file: not an image this command decodes (PNG, JPEG, BMP, GIF)")
            val reader = readers.next()
            try {
                reader.setInput(input, true, false)
                val image = try {
                    reader.read(0)
                } catch (err: IIOException) {
                    // Java's JPEG reader decodes no CMYK/YCCK image to a BufferedImage; its raster it can.
                    if (reader.formatName.lowercase() !in setOf("jpeg", "jpg")) throw CoreException("$file: cannot decode (${err.message})")
                    val raster = try {
                        reader.readRaster(0, null)
                    } catch (again: IIOException) {
                        throw CoreException("$file: cannot decode (${again.message})")
                    }
                    return cmyk(file, raster, reader)
                }
                if (image.colorModel.colorSpace.type == ColorSpace.TYPE_CMYK) return cmyk(file, image.raster, reader)
                return fromImage(file, image)
            } catch (err: IIOException) {
                throw CoreException("$file: cannot decode (${err.message})")
            } finally {
                reader.dispose()
            }
        }
    }

    private fun fromImage(file: File, image: BufferedImage): Decoded {
        val w = image.width
        val h = image.height
        val model = image.colorModel
        val raster = image.raster
        if (model is IndexColorModel) {
            // Palettes (also 1, 2 and 4-bit gray, which Java reads as a gray palette): the colours, alpha dropped.
            val argb = image.getRGB(0, 0, w, h, null, 0, w)
            return Decoded(Array(3) { c -> IntArray(w * h) { (argb[it] ushr (16 - 8 * c)) and 0xff } }, w, h)
        }
        val bits = model.getComponentSize(0)
        return when (model.colorSpace.type) {
            ColorSpace.TYPE_GRAY -> {
                val withAlpha = raster.numBands > 1
                val gray = band(raster, 0, w, h) { v ->
                    when {
                        bits == 8 -> v
                        bits == 16 && withAlpha -> v ushr 8 // PIL: LA;16B keeps the high byte
                        bits == 16 -> minOf(v, 255) // PIL: I;16 -> RGB clips
                        bits < 8 -> v * 255 / ((1 shl bits) - 1)
                        else -> throw CoreException("$file: $bits-bit gray is not supported")
                    }
                }
                Decoded(arrayOf(gray, gray.copyOf(), gray.copyOf()), w, h)
            }
            ColorSpace.TYPE_RGB -> {
                if (raster.numBands < 3) throw CoreException("$file: RGB image with ${raster.numBands} bands")
                if (bits != 8 && bits != 16) {
                    // packed formats (e.g. 5-6-5 BMP): Java's own scaling
                    val argb = image.getRGB(0, 0, w, h, null, 0, w)
                    return Decoded(Array(3) { c -> IntArray(w * h) { (argb[it] ushr (16 - 8 * c)) and 0xff } }, w, h)
                }
                Decoded(Array(3) { c -> band(raster, c, w, h) { v -> if (bits == 16) v ushr 8 else v } }, w, h)
            }
            else -> throw CoreException("$file: colour space type ${model.colorSpace.type} is not supported")
        }
    }

    private inline fun band(raster: Raster, b: Int, w: Int, h: Int, convert: (Int) -> Int): IntArray {
        val samples = raster.getSamples(raster.minX, raster.minY, w, h, b, null as IntArray?)
        for (i in samples.indices) samples[i] = convert(samples[i])
        return samples
    }

    /** A 4-channel (CMYK) JPEG as PIL reads it, then Pillow's cmyk2rgb. */
    private fun cmyk(file: File, raster: Raster, reader: ImageReader): Decoded {
        if (raster.numBands != 4) throw CoreException("$file: a JPEG with ${raster.numBands} channels is not supported")
        val metadata = reader.getImageMetadata(0)
        val tree = metadata?.getAsTree("javax_imageio_jpeg_image_1.0") as IIOMetadataNode?
        val adobe = tree?.getElementsByTagName("app14Adobe")?.let { if (it.length > 0) it.item(0) as IIOMetadataNode else null }
        if (adobe != null && adobe.getAttribute("transform") == "2") {
            throw CoreException("$file: YCCK JPEGs are not supported (convert it to RGB first)")
        }
        val w = raster.width
        val h = raster.height
        // Java's JPEG reader already undoes Adobe's inversion (checked against PIL on PIL-written
        // Adobe CMYK JPEGs); a CMYK JPEG without the Adobe marker is taken as stored, as PIL does.
        val channels = Array(4) { c -> band(raster, c, w, h) { it } }
        val k = channels[3]
        val planes = Array(3) { c ->
            val v = channels[c]
            IntArray(w * h) {
                val nk = 255 - k[it]
                val t = v[it] * nk + 128
                (nk - (((t shr 8) + t) shr 8)).coerceIn(0, 255)
            }
        }
        return Decoded(planes, w, h)
    }
}
