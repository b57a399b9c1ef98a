package org.vizwiz.vqa

import android.content.Context
import java.io.File

/**
 * Where bundles live: the app's own `files/bundles/<name>/`, filled once from the APK's
 * `assets/bundles/` (streamed to disk, so a large model never passes through the Java heap);
 * `adb push` targets: the app's external files folder
 * (/sdcard/Android/data/org.vizwiz.vqa/files/bundles) and /data/local/tmp/vqa_bench, where
 * `python -m benchmark android` puts them (some phones do not let apps list that folder; the
 * benchmark mode is given the exact path).
 */
object Bundles {
    const val ADB_DIR = "/data/local/tmp/vqa_bench"

    fun folders(context: Context): List<File> {
        copyAssetsOnce(context)
        val roots = listOfNotNull(
            File(context.filesDir, "bundles"),
            context.getExternalFilesDir(null)?.let { File(it, "bundles") },
            File(ADB_DIR),
        )
        return roots.flatMap { root -> root.listFiles()?.filter { File(it, "manifest.json").isFile }.orEmpty() }
            .sortedBy { it.name }
    }

    private fun copyAssetsOnce(context: Context) {
        val assets = context.assets
        val names = assets.list("bundles").orEmpty()
        for (name in names) {
            val target = File(context.filesDir, "bundles/$name")
            if (File(target, "manifest.json").isFile) continue
            val staging = File(context.filesDir, "bundles/.$name.tmp").apply { deleteRecursively(); mkdirs() }
            for (file in assets.list("bundles/$name").orEmpty()) {
                assets.open("bundles/$name/$file").use { input ->
                    File(staging, file).outputStream().use { input.copyTo(it, 1 shl 20) }
                }
            }
            staging.renameTo(target)
        }
    }
}
