package org.vizwiz.vqa.core

import kotlin.math.exp

/**
 * From logits to what the user hears: the argmax answer (the first maximum on ties, as numpy and
 * torch take it), the top k by score (ties by index) and, where the answers have
 * "unanswerable", answerable = 1 - sigmoid(logit of "unanswerable"), as the manifest's
 * postprocessing says.
 */
class AnswerDecoder(private val answers: List<String>, private val unanswerableIndex: Int?) {
    data class Scored(val index: Int, val answer: String, val score: Float)

    data class Decoded(val index: Int, val answer: String, val top: List<Scored>, val answerable: Double?) {
        val isUnanswerable: Boolean get() = answer == UNANSWERABLE
    }

    init {
        if (answers.isEmpty()) throw CoreException("the answer list is empty")
        if (unanswerableIndex != null && unanswerableIndex !in answers.indices) {
            throw CoreException("unanswerable index $unanswerableIndex is outside 0..${answers.size - 1}")
        }
    }

    fun decode(logits: FloatArray, topK: Int = 5): Decoded {
        if (logits.size != answers.size) {
            throw CoreException("${logits.size} logits for ${answers.size} answers")
        }
        if (logits.any { it.isNaN() }) throw CoreException("the logits contain NaN")
        var best = 0
        for (i in 1 until logits.size) if (logits[i] > logits[best]) best = i
        val order = logits.indices.sortedWith(compareByDescending<Int> { logits[it] }.thenBy { it })
        val top = order.take(topK).map { Scored(it, answers[it], logits[it]) }
        val answerable = unanswerableIndex?.let { 1.0 - 1.0 / (1.0 + exp(-logits[it].toDouble())) }
        return Decoded(best, answers[best], top, answerable)
    }

    companion object {
        const val UNANSWERABLE = "unanswerable"

        fun of(manifest: Manifest): AnswerDecoder = AnswerDecoder(
            manifest.readAnswers(),
            if (manifest.answerableRule == "none") null else manifest.answers.unanswerableIndex,
        )
    }
}
