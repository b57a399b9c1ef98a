package org.vizwiz.vqa.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class DecodeAndStatsGoldenTest {
    @Test
    fun decodingMatchesTheGolden() {
        val golden = Golden.json("decode.json")
        val answers = golden.getJSONArray("answers").let { a -> (0 until a.length()).map { a.getString(it) } }
        val tolerance = golden.getDouble("answerable_tolerance")
        val cases = golden.getJSONArray("cases")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val k = if (case.isNull("unanswerable_index")) null else case.getInt("unanswerable_index")
            val logits = Golden.doubles(case.getJSONArray("logits")).map { it.toFloat() }.toFloatArray()
            val decoded = AnswerDecoder(answers, k).decode(logits)
            assertEquals("case $i", case.getInt("index"), decoded.index)
            assertEquals("case $i", case.getString("answer"), decoded.answer)
            val top = case.getJSONArray("top5")
            assertEquals(top.length(), decoded.top.size)
            for (j in 0 until top.length()) {
                val t = top.getJSONObject(j)
                assertEquals("case $i top $j", t.getInt("index"), decoded.top[j].index)
                assertEquals("case $i top $j", t.getString("answer"), decoded.top[j].answer)
                assertEquals("case $i top $j", t.getDouble("score"), decoded.top[j].score.toDouble(), 0.0)
            }
            if (case.isNull("answerable")) assertNull(decoded.answerable) else assertEquals("case $i", case.getDouble("answerable"), decoded.answerable!!, tolerance)
        }
    }

    @Test
    fun wrongLogitCountIsRefused() {
        try {
            AnswerDecoder(listOf("yes", "no"), null).decode(FloatArray(3))
            throw AssertionError("accepted 3 logits for 2 answers")
        } catch (err: CoreException) {
            assertTrue(err.message!!.contains("3 logits for 2 answers"))
        }
    }

    @Test
    fun statisticsMatchTheHostHarness() {
        val cases = Golden.json("stats.json").getJSONArray("cases")
        for (i in 0 until cases.length()) {
            val case = cases.getJSONObject(i)
            val s = LatencyStats.summarize(Golden.doubles(case.getJSONArray("samples_ms")))
            val got = mapOf("mean" to s.mean, "p50" to s.p50, "p90" to s.p90, "p99" to s.p99, "std" to s.std, "trimmed_mean" to s.trimmedMean, "min" to s.min, "max" to s.max)
            for ((key, value) in got) {
                val expected = case.getDouble(key)
                assertEquals("case $i ($key)", expected, value, 1e-9 * maxOf(1.0, Math.abs(expected)))
            }
        }
    }
}
