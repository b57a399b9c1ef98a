package org.vizwiz.vqa.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Assume.assumeTrue
import org.junit.Before
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.File

/** Against a real bundle that `python -m export` wrote (scripts/write_golden_vectors.py --bundle). */
class ManifestTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private lateinit var bundle: File

    @Before
    fun bundleExists() {
        val given = Golden.bundle
        assumeTrue("no exported bundle: run through `make android-test`, or pass -Dvqa.bundle=DIR", given != null)
        bundle = given!!
    }

    private fun copy(): File = tmp.newFolder("bundle").also { bundle.copyRecursively(it, overwrite = true) }

    private fun refused(dir: File, expected: String) {
        try {
            Manifest.read(dir)
            fail("accepted a bundle that should fail with '$expected'")
        } catch (err: CoreException) {
            assertTrue("'${err.message}' lacks '$expected'", err.message!!.contains(expected))
            assertTrue(err.message!!.lines().size == 1)
        }
    }

    @Test
    fun readsTheExportedManifest() {
        val manifest = Manifest.read(bundle)
        val raw = JSONObject(File(bundle, "manifest.json").readText())
        assertEquals("onnx", manifest.format)
        assertEquals(raw.getString("model_file"), manifest.modelFile)
        assertEquals(listOf("image", "question", "padding_mask"), manifest.inputs.map { it.name })
        assertEquals(32, manifest.preprocessing.imageSize)
        assertEquals(16, manifest.tokenizer.maxLen)
        val answers = manifest.readAnswers()
        assertEquals(manifest.answers.count, answers.size)
        assertEquals("unanswerable", answers[manifest.answers.unanswerableIndex!!])
        val sizes = raw.getJSONObject("files").let { f -> f.keys().asSequence().sumOf { f.getJSONObject(it).getLong("bytes") } }
        assertEquals(sizes, manifest.bundleBytes)
        assertEquals(File(bundle, manifest.modelFile).length(), manifest.modelBytes)
        // the exporter's optimized ORT-format file is what the Android engine loads
        assertEquals(raw.getJSONObject("runtime").getString("ort_file"), manifest.runtimeModelFile)
        assertTrue(File(bundle, manifest.runtimeModelFile).isFile)
        // the bundle's tokenizer encodes as the golden small model does (it is that model)
        val golden = Golden.json("tokens_small.json").getJSONArray("cases").getJSONObject(0)
        assertEquals(golden.getJSONArray("ids").toString(), org.json.JSONArray(manifest.tokenizer().encode(golden.getString("text"), 16).ids.toList()).toString())
    }

    @Test
    fun aChangedFileIsNamed() {
        val dir = copy()
        File(dir, "answers.txt").appendText("x")
        refused(dir, "answers.txt: does not match the manifest (size")
    }

    @Test
    fun sameSizeDifferentBytesIsCaughtBySha256() {
        val dir = copy()
        val file = File(dir, "tokenizer.spm")
        val bytes = file.readBytes()
        bytes[bytes.size - 1] = (bytes[bytes.size - 1] + 1).toByte()
        file.writeBytes(bytes)
        refused(dir, "tokenizer.spm: does not match the manifest (sha256")
    }

    @Test
    fun aMissingFileIsNamed() {
        val dir = copy()
        val model = Manifest.read(dir).modelFile
        File(dir, model).delete()
        refused(dir, "$model is listed in the manifest but missing")
    }

    @Test
    fun brokenJsonAndMissingFieldsNameTheManifest() {
        val dir = copy()
        val manifest = File(dir, "manifest.json")
        val good = JSONObject(manifest.readText())
        manifest.writeText("{ not json")
        refused(dir, "manifest.json: ")
        manifest.writeText(JSONObject(good.toString()).apply { remove("preprocessing") }.toString())
        refused(dir, "preprocessing")
        manifest.writeText(JSONObject(good.toString()).apply { put("format", "tflite") }.toString())
        refused(dir, "format 'tflite'")
        refused(File(dir, "absent"), "no such bundle folder")
    }

    @Test
    fun namesLeavingTheFolderAreRefusedWithTheirEntry() {
        val dir = copy()
        val manifest = File(dir, "manifest.json")
        val good = JSONObject(manifest.readText())
        manifest.writeText(JSONObject(good.toString()).apply { put("model_file", "../model.onnx") }.toString())
        refused(dir, "model_file: '../model.onnx' is not a path inside the bundle folder")
        manifest.writeText(JSONObject(good.toString()).apply { getJSONObject("tokenizer").put("file", "/etc/passwd") }.toString())
        refused(dir, "tokenizer.file: '/etc/passwd' is not a path inside the bundle folder")
        manifest.writeText(
            JSONObject(good.toString()).apply {
                getJSONObject("files").put("sub/../../x", JSONObject().put("bytes", 1).put("sha256", "0".repeat(64)))
            }.toString(),
        )
        refused(dir, "files['sub/../../x']: 'sub/../../x' is not a path inside the bundle folder")
        manifest.writeText(JSONObject(good.toString()).apply { getJSONObject("runtime").put("ort_file", "../m.ort") }.toString())
        refused(dir, "runtime.ort_file: '../m.ort' is not a path inside the bundle folder")
    }

    @Test
    fun aLinkLeadingOutsideIsRefused() {
        val dir = copy()
        val outside = tmp.newFile("answers-elsewhere.txt")
        File(dir, "answers.txt").copyTo(outside, overwrite = true)
        File(dir, "answers.txt").delete()
        java.nio.file.Files.createSymbolicLink(File(dir, "answers.txt").toPath(), outside.toPath())
        refused(dir, "answers.file: 'answers.txt' leads outside the bundle folder")
    }

    @Test
    fun aLinkStayingInsideIsAccepted() {
        val dir = copy()
        val inside = File(dir, "sub/answers.txt").apply { parentFile.mkdirs() }
        File(dir, "answers.txt").copyTo(inside)
        File(dir, "answers.txt").delete()
        java.nio.file.Files.createSymbolicLink(File(dir, "answers.txt").toPath(), java.nio.file.Paths.get("sub/answers.txt"))
        assertEquals("onnx", Manifest.read(dir).format)
    }
}
