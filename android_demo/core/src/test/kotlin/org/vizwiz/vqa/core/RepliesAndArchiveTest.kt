package org.vizwiz.vqa.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import java.util.zip.ZipEntry
import java.util.zip.ZipOutputStream

class RepliesAndArchiveTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private val answers = listOf("circle", "red", "unanswerable")
    private val decoder = AnswerDecoder(answers, 2)
    private fun report(verdict: ImageQuality.Verdict) = ImageQuality.Report(verdict, 100.0, 0.0, 500.0, 256, 192)

    @Test
    fun aSureAnswerIsTheAnswer() {
        // logit of "unanswerable" -5: answerable = 1 - sigmoid(-5) = 0.993 >= 0.5
        val reply = Replies.answer(decoder.decode(floatArrayOf(3f, 1f, -5f)), 0.5, null)
        assertEquals(Replies.Reply("circle", false), reply)
    }

    @Test
    fun unsureRepliesNeverSayTheLabelAndGiveTheQualityReason() {
        val unanswerable = decoder.decode(floatArrayOf(0f, 1f, 4f))
        val unsure = decoder.decode(floatArrayOf(3f, 1f, 2f)) // answerable = 1 - sigmoid(2) = 0.12
        for (decoded in listOf(unanswerable, unsure)) {
            for (quality in listOf(null, report(ImageQuality.Verdict.BLURRED), report(ImageQuality.Verdict.OK))) {
                val reply = Replies.answer(decoded, 0.5, quality)
                assertTrue(reply.retake)
                assertFalse(reply.sentence, reply.sentence.contains("unanswerable", ignoreCase = true))
            }
        }
        assertTrue(Replies.answer(unsure, 0.5, null).sentence.startsWith("Maybe circle, but I am not sure."))
        assertTrue(Replies.answer(unanswerable, 0.5, report(ImageQuality.Verdict.BLURRED)).sentence.contains("blurred"))
    }

    @Test
    fun qualityRepliesComeBeforeTheModel() {
        assertNull(Replies.beforeModel(report(ImageQuality.Verdict.OK), false))
        assertTrue(Replies.beforeModel(report(ImageQuality.Verdict.TOO_DARK), false)!!.sentence.contains("torch"))
        assertTrue(Replies.beforeModel(report(ImageQuality.Verdict.TOO_BRIGHT), false)!!.retake)
    }

    private fun zip(vararg entries: Pair<String, String>): ByteArray {
        val bytes = ByteArrayOutputStream()
        ZipOutputStream(bytes).use { zip ->
            for ((name, text) in entries) {
                zip.putNextEntry(ZipEntry(name))
                zip.write(text.toByteArray())
                zip.closeEntry()
            }
        }
        return bytes.toByteArray()
    }

    @Test
    fun anArchiveIsExtractedFromItsTopFolder() {
        val dest = File(tmp.root, "import")
        val bundle = BundleArchive.extract(ByteArrayInputStream(zip("b/manifest.json" to "{}", "b/answers.txt" to "x\n")), dest)
        assertEquals(File(dest, "b").canonicalFile, bundle)
        assertEquals("x\n", File(bundle, "answers.txt").readText())
    }

    @Test
    fun entriesLeavingTheFolderAreRefused() {
        for (name in listOf("../evil.txt", "b/../../evil.txt", "/abs.txt")) {
            try {
                BundleArchive.extract(ByteArrayInputStream(zip(name to "x")), File(tmp.root, "i${name.hashCode()}"))
                fail("extracted '$name'")
            } catch (err: CoreException) {
                assertTrue(err.message!!, err.message!!.contains("'$name'"))
            }
        }
        assertFalse(File(tmp.root, "evil.txt").exists())
    }
}
