package org.vizwiz.vqa.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Assume.assumeTrue
import org.junit.Test
import java.io.File

class TokenizerGoldenTest {
    private fun check(name: String, model: File) {
        val golden = Golden.json(name)
        val bytes = model.readBytes()
        assertEquals("$model is not the model $name was written from", golden.getString("spm_sha256"), sha256(bytes))
        val tokenizer = SentencePieceTokenizer(bytes, model.path)
        val maxLen = golden.getInt("max_len")
        val cases = golden.getJSONArray("cases")
        var checked = 0
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val text = case.getString("text")
            val label = "$name case $i ${quoted(text)}"
            assertArrayEquals(label, Golden.ints(case.getJSONArray("pieces_ids")), tokenizer.tokenIds(text))
            if (case.has("error")) {
                assertEquals("empty", case.getString("error"))
                try {
                    tokenizer.encode(text, maxLen)
                    fail("$label: expected an empty-question error")
                } catch (err: CoreException) {
                    assertTrue(err.message!!.contains("empty"))
                }
            } else {
                val encoding = tokenizer.encode(text, maxLen)
                assertArrayEquals(label, Golden.ints(case.getJSONArray("ids")), encoding.ids)
                assertArrayEquals(label, Golden.ints(case.getJSONArray("padding_mask")), encoding.paddingMask)
            }
            checked++
        }
        assertTrue(checked > 300)
    }

    @Test
    fun smallModelGivesTheGoldenIds() {
        val golden = Golden.json("tokens_small.json")
        check("tokens_small.json", File(Golden.dir, golden.getString("spm_file")))
    }

    @Test
    fun beit3ModelGivesTheGoldenIds() {
        val path = System.getenv("BEIT3_SPM")
        assumeTrue("BEIT3_SPM does not name the real BEiT-3 tokenizer (beit3.spm): skipped", path != null && File(path).isFile)
        check("tokens_beit3.json", File(path!!))
    }

    @Test
    fun vocabularySizeCountsBos() {
        val tokenizer = SentencePieceTokenizer(File(Golden.dir, "tokenizer_small.model").readBytes())
        assertEquals(47, tokenizer.vocabSize) // 46 pieces + 1, as vqa.tokenizer.Tokenizer.vocab_size
    }

    @Test
    fun notAModelIsRefusedNamingTheSource() {
        for (bytes in listOf(ByteArray(0), "not a model".toByteArray(), byteArrayOf(0x0a, 0x7f))) {
            try {
                SentencePieceTokenizer(bytes, "q.spm")
                fail("accepted ${bytes.size} bytes")
            } catch (err: CoreException) {
                assertTrue(err.message, err.message!!.startsWith("q.spm: "))
            }
        }
    }

    @Test
    fun maxLenBelowThreeIsRefused() {
        val tokenizer = SentencePieceTokenizer(File(Golden.dir, "tokenizer_small.model").readBytes())
        try {
            tokenizer.encode("what", 2)
            fail("accepted max length 2")
        } catch (err: CoreException) {
            assertTrue(err.message!!.contains("at least 3"))
        }
    }

    private fun quoted(text: String) = text.take(40).map { if (it.code < 0x20) "\\u%04x".format(it.code) else "$it" }.joinToString("")

    private fun sha256(bytes: ByteArray): String =
        java.security.MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
}
