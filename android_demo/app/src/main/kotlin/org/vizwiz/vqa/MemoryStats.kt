package org.vizwiz.vqa

import java.io.File

/** Resident memory of this process from /proc/self/status, in bytes (VmHWM = peak, VmRSS = now). */
object MemoryStats {
    fun peakRssBytes(): Long? = field("VmHWM")

    fun rssBytes(): Long? = field("VmRSS")

    private fun field(name: String): Long? = try {
        File("/proc/self/status").readLines()
            .firstOrNull { it.startsWith("$name:") }
            ?.substringAfter(':')?.trim()?.removeSuffix("kB")?.trim()?.toLongOrNull()
            ?.times(1024)
    } catch (err: java.io.IOException) {
        null
    }
}
