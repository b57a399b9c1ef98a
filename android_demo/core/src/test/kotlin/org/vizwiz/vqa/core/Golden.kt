package org.vizwiz.vqa.core

import org.json.JSONArray
import org.json.JSONObject
import java.io.File

/** Where tests/golden/ is: system property vqa.golden, env VQA_GOLDEN, or found above the working folder. */
object Golden {
    val dir: File by lazy {
        val given = System.getProperty("vqa.golden") ?: System.getenv("VQA_GOLDEN")
        val found = given?.let(::File) ?: generateSequence(File("").absoluteFile) { it.parentFile }
            .map { File(it, "tests/golden") }.firstOrNull { it.isDirectory }
        require(found != null && found.isDirectory) { "tests/golden not found: set -Dvqa.golden=DIR or VQA_GOLDEN" }
        found
    }

    fun json(name: String): JSONObject = JSONObject(File(dir, name).readText(Charsets.UTF_8))

    /** A bundle exported by scripts/write_golden_vectors.py --bundle, when the build made one. */
    val bundle: File? get() = (System.getProperty("vqa.bundle") ?: System.getenv("VQA_BUNDLE"))?.let(::File)?.takeIf { it.isDirectory }

    fun ints(array: JSONArray): IntArray = IntArray(array.length()) { array.getInt(it) }

    fun doubles(array: JSONArray): DoubleArray = DoubleArray(array.length()) { array.getDouble(it) }
}
