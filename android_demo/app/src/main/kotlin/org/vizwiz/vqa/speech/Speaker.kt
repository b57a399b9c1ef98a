package org.vizwiz.vqa.speech

import android.content.Context
import android.speech.tts.TextToSpeech
import android.view.View
import android.view.accessibility.AccessibilityManager

/**
 * The answer out loud. With TalkBack on, the answer is announced to TalkBack (which speaks it
 * with the user's own voice and speed) and not also spoken here, so it is not heard twice.
 */
class Speaker(context: Context) : TextToSpeech.OnInitListener {
    private val accessibility = context.getSystemService(AccessibilityManager::class.java)
    private val tts = TextToSpeech(context.applicationContext, this)
    private var ready = false
    private var pending: String? = null

    override fun onInit(status: Int) {
        ready = status == TextToSpeech.SUCCESS
        pending?.let { if (ready) speakNow(it) }
        pending = null
    }

    /** Speaks `text`, or announces it when TalkBack runs; `view` carries the announcement. */
    fun say(text: String, view: View?) {
        if (accessibility?.isTouchExplorationEnabled == true && view != null) {
            @Suppress("DEPRECATION") // announceForAccessibility still reaches TalkBack; live regions back it up in the UI
            view.announceForAccessibility(text)
            return
        }
        if (ready) speakNow(text) else pending = text
    }

    private fun speakNow(text: String) {
        tts.speak(text, TextToSpeech.QUEUE_FLUSH, null, text.hashCode().toString())
    }

    fun shutdown() {
        tts.stop()
        tts.shutdown()
    }
}
