package org.vizwiz.vqa.core

import java.io.File
import java.io.InputStream
import java.util.zip.ZipInputStream

/**
 * A bundle imported as a .zip: its files extracted into a new folder, every entry checked to stay
 * inside it (no `..`, no absolute name), and a bundle packed in one top folder taken from there.
 */
object BundleArchive {
    /** Extracts `input` into `dest` (which must not exist); returns the folder holding manifest.json. */
    fun extract(input: InputStream, dest: File, maxBytes: Long = 4L shl 30): File {
        if (dest.exists()) throw CoreException("$dest already exists")
        if (!dest.mkdirs()) throw CoreException("$dest: cannot create the folder")
        val root = dest.canonicalFile
        var total = 0L
        ZipInputStream(input).use { zip ->
            while (true) {
                val entry = zip.nextEntry ?: break
                val name = entry.name
                if (name.startsWith("/") || '\\' in name || ".." in name.split('/')) {
                    throw CoreException("the archive entry '$name' is not a path inside the bundle")
                }
                val target = File(root, name).canonicalFile
                if (!target.path.startsWith(root.path + File.separator)) {
                    throw CoreException("the archive entry '$name' leads outside the bundle")
                }
                if (entry.isDirectory) {
                    target.mkdirs()
                    continue
                }
                target.parentFile.mkdirs()
                target.outputStream().use { out ->
                    val buffer = ByteArray(1 shl 16)
                    while (true) {
                        val n = zip.read(buffer)
                        if (n < 0) break
                        total += n
                        if (total > maxBytes) throw CoreException("the archive holds more than ${maxBytes shr 20} MB")
                        out.write(buffer, 0, n)
                    }
                }
            }
        }
        if (File(root, Manifest.NAME).isFile) return root
        val inner = root.listFiles()?.filter { File(it, Manifest.NAME).isFile }.orEmpty()
        return inner.singleOrNull() ?: throw CoreException("the archive holds no bundle (no ${Manifest.NAME} at its top or in one folder)")
    }
}
