package org.vizwiz.vqa

import android.content.Context
import org.vizwiz.vqa.core.AtomicFile
import org.vizwiz.vqa.core.Manifest
import java.io.File
import java.security.MessageDigest

/**
 * Where bundles live: the app's own `files/bundles/<name>/` (imported bundles, and those shipped
 * in the APK's `assets/bundles/`, copied there streamed, so a large model never passes through
 * the Java heap, and copied again when the shipped manifest's sha256 changes); `adb push`
 * targets: the app's external files folder (/sdcard/Android/data/org.vizwiz.vqa/files/bundles)
 * and /data/local/tmp/vqa_bench, where `python -m benchmark android` puts them (some phones do
 * not let apps list that folder; the benchmark mode is given the exact path).
 */
object Bundles {
    const val ADB_DIR = "/data/local/tmp/vqa_bench"
    private const val SHIPPED_SHA = ".shipped-manifest.sha256"

    fun own(context: Context): File = File(context.filesDir, "bundles")

    fun folders(context: Context): List<File> {
        copyAssets(context)
        val roots = listOfNotNull(
            own(context),
            context.getExternalFilesDir(null)?.let { File(it, "bundles") },
            File(ADB_DIR),
        )
        return roots.flatMap { root -> root.listFiles()?.filter { File(it, Manifest.NAME).isFile }.orEmpty() }
            .sortedBy { it.name }
    }

    private fun copyAssets(context: Context) {
        val assets = context.assets
        for (name in assets.list("bundles").orEmpty()) {
            val shipped = sha256(assets.open("bundles/$name/${Manifest.NAME}").use { it.readBytes() })
            val target = File(own(context), name)
            val marker = File(target, SHIPPED_SHA)
            if (File(target, Manifest.NAME).isFile && marker.isFile && marker.readText().trim() == shipped) continue
            val staging = File(own(context), ".$name.tmp").apply { deleteRecursively(); mkdirs() }
            for (file in assets.list("bundles/$name").orEmpty()) {
                assets.open("bundles/$name/$file").use { input ->
                    File(staging, file).outputStream().use { input.copyTo(it, 1 shl 20) }
                }
            }
            AtomicFile.writeText(File(staging, SHIPPED_SHA), shipped + "\n")
            target.deleteRecursively()
            if (!staging.renameTo(target)) staging.deleteRecursively()
        }
    }

    private fun sha256(bytes: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
}
