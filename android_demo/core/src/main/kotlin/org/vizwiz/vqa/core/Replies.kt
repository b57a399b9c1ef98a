package org.vizwiz.vqa.core

/**
 * What the app says after a photo, in plain words: the answer; or, when the model is unsure, that
 * it is unsure, with the photo's quality problem when there is one (never the label
 * "unanswerable"); or, before the model runs, why to retake.
 */
object Replies {
    /** The sentence to show and speak, and whether it asks for another photo. */
    data class Reply(val sentence: String, val retake: Boolean)

    /** Before the model runs: the quality problem and what to do, or null when the photo looks fine. */
    fun beforeModel(quality: ImageQuality.Report, torchOn: Boolean): Reply? =
        ImageQuality.advice(quality.verdict, torchOn)?.let { Reply("$it Then take the photo again.", true) }

    /**
     * The model's reply: the answer when it is sure enough (answerable score at or above
     * `threshold`), else "not sure" with a guess (if the model had one besides "unanswerable")
     * and the quality problem (if any), or general advice.
     */
    fun answer(decoded: AnswerDecoder.Decoded, threshold: Double, quality: ImageQuality.Report?): Reply {
        val answerable = decoded.answerable
        val unsure = decoded.isUnanswerable || (answerable != null && answerable < threshold)
        if (!unsure) return Reply(decoded.answer, false)
        val guess = decoded.top.firstOrNull { it.answer != AnswerDecoder.UNANSWERABLE }?.answer
        val advice = quality?.let { ImageQuality.advice(it.verdict) }
            ?: "Try another photo: a little further away, with more light, holding the phone still."
        val opening = if (!decoded.isUnanswerable && guess != null) "Maybe $guess, but I am not sure." else "I cannot tell from this photo."
        return Reply("$opening $advice", true)
    }
}
