package org.vizwiz.vqa.core

import java.io.File
import java.io.FileOutputStream
import java.nio.file.Files
import java.nio.file.StandardCopyOption

/** Writes a file so that a reader (adb pull, a crash) sees the old file or the complete new one. */
object AtomicFile {
    fun writeText(target: File, text: String) = writeBytes(target, text.toByteArray(Charsets.UTF_8))

    fun writeBytes(target: File, data: ByteArray) {
        val dir = target.absoluteFile.parentFile ?: throw CoreException("$target: no parent folder")
        if (!dir.isDirectory && !dir.mkdirs()) throw CoreException("$dir: cannot create the folder")
        val tmp = File.createTempFile(".${target.name}.", ".tmp", dir)
        try {
            FileOutputStream(tmp).use { out ->
                out.write(data)
                out.fd.sync()
            }
            Files.move(tmp.toPath(), target.absoluteFile.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        } catch (err: java.io.IOException) {
            tmp.delete()
            throw CoreException("$target: cannot write (${err.message})", err)
        }
    }
}
