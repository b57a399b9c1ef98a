package org.vizwiz.vqa.speech

import android.content.Context
import android.speech.tts.TextToSpeech
import android.view.accessibility.AccessibilityManager

/**
 * Messages out loud with TextToSpeech. With TalkBack on it says nothing: every message is shown
 * in the screen's polite live region, which TalkBack reads once, in the user's own voice and
 * speed (speaking here too, or also calling announceForAccessibility, made it heard twice).
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

    /** Speaks `text`, unless TalkBack runs (the live region carries it then). */
    fun say(text: String) {
        if (accessibility?.isTouchExplorationEnabled == true) return
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
