package org.vizwiz.vqa

import android.content.Context

/** What the user can change: the default question, the "unsure" threshold, threads, the bundle. */
class Settings(context: Context) {
    private val prefs = context.getSharedPreferences("settings", Context.MODE_PRIVATE)

    var defaultQuestion: String
        get() = prefs.getString(KEY_QUESTION, null) ?: DEFAULT_QUESTION
        set(value) = prefs.edit().putString(KEY_QUESTION, value.ifBlank { DEFAULT_QUESTION }).apply()

    /** Below this answerable score (1 - sigmoid of "unanswerable") the app suggests a retake. */
    var threshold: Float
        get() = prefs.getFloat(KEY_THRESHOLD, DEFAULT_THRESHOLD)
        set(value) = prefs.edit().putFloat(KEY_THRESHOLD, value.coerceIn(0f, 1f)).apply()

    var threads: Int
        get() = prefs.getInt(KEY_THREADS, DEFAULT_THREADS)
        set(value) = prefs.edit().putInt(KEY_THREADS, value.coerceIn(1, 8)).apply()

    var bundle: String?
        get() = prefs.getString(KEY_BUNDLE, null)
        set(value) = prefs.edit().putString(KEY_BUNDLE, value).apply()

    /** Whether the user was told once that voice input is not available offline on this phone. */
    var speechNoticeGiven: Boolean
        get() = prefs.getBoolean(KEY_SPEECH_NOTICE, false)
        set(value) = prefs.edit().putBoolean(KEY_SPEECH_NOTICE, value).apply()

    companion object {
        const val DEFAULT_QUESTION = "What is this?"
        const val DEFAULT_THRESHOLD = 0.5f
        const val DEFAULT_THREADS = 4
        private const val KEY_QUESTION = "default_question"
        private const val KEY_THRESHOLD = "answerable_threshold"
        private const val KEY_THREADS = "threads"
        private const val KEY_BUNDLE = "bundle"
        private const val KEY_SPEECH_NOTICE = "speech_notice_given"
    }
}
