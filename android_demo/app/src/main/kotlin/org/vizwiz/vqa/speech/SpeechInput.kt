package org.vizwiz.vqa.speech

import android.content.Context
import android.content.Intent
import android.os.Build
import android.os.Bundle
import android.speech.RecognitionListener
import android.speech.RecognizerIntent
import android.speech.SpeechRecognizer

/**
 * The question by voice, and the voice stays on the phone: only Android 12+'s on-device
 * recogniser (SpeechRecognizer.createOnDeviceSpeechRecognizer) is used. Where the phone has none,
 * [available] is false and the app offers typing or the default question: it never falls back
 * to a recognition service that may send the audio to a server. Lives on the main thread.
 */
class SpeechInput(private val context: Context) {
    private var recognizer: SpeechRecognizer? = null

    val available: Boolean
        get() = Build.VERSION.SDK_INT >= Build.VERSION_CODES.S && SpeechRecognizer.isOnDeviceRecognitionAvailable(context)

    /** Listens once; `onReady` when the microphone is open, `onResult` the transcript, `onError` a sentence to speak. */
    fun listen(onReady: () -> Unit, onResult: (String) -> Unit, onError: (String) -> Unit) {
        stop()
        if (!available || Build.VERSION.SDK_INT < Build.VERSION_CODES.S) {
            onError(UNAVAILABLE)
            return
        }
        val r = SpeechRecognizer.createOnDeviceSpeechRecognizer(context)
        recognizer = r
        r.setRecognitionListener(object : RecognitionListener {
            override fun onResults(results: Bundle) {
                val text = results.getStringArrayList(SpeechRecognizer.RESULTS_RECOGNITION)?.firstOrNull()
                if (text.isNullOrBlank()) onError("I did not hear a question. Try again, or type it.") else onResult(text)
            }

            override fun onError(error: Int) {
                onError(
                    when (error) {
                        SpeechRecognizer.ERROR_NO_MATCH, SpeechRecognizer.ERROR_SPEECH_TIMEOUT -> "I did not hear a question. Try again, or type it."
                        SpeechRecognizer.ERROR_INSUFFICIENT_PERMISSIONS -> "Allow the microphone to ask by voice."
                        // API 31 constants, inlined at compile time; only reached on API 31+ here
                        SpeechRecognizer.ERROR_LANGUAGE_NOT_SUPPORTED, SpeechRecognizer.ERROR_LANGUAGE_UNAVAILABLE ->
                            "This phone has no offline speech model for your language. Type the question, or use the default question."
                        else -> "Speech recognition failed. Type the question, or use the default question."
                    },
                )
            }

            override fun onReadyForSpeech(params: Bundle?) = onReady()
            override fun onBeginningOfSpeech() = Unit
            override fun onRmsChanged(rmsdB: Float) = Unit
            override fun onBufferReceived(buffer: ByteArray?) = Unit
            override fun onEndOfSpeech() = Unit
            override fun onPartialResults(partialResults: Bundle?) = Unit
            override fun onEvent(eventType: Int, params: Bundle?) = Unit
        })
        val intent = Intent(RecognizerIntent.ACTION_RECOGNIZE_SPEECH).apply {
            putExtra(RecognizerIntent.EXTRA_LANGUAGE_MODEL, RecognizerIntent.LANGUAGE_MODEL_FREE_FORM)
            putExtra(RecognizerIntent.EXTRA_PREFER_OFFLINE, true)
            putExtra(RecognizerIntent.EXTRA_MAX_RESULTS, 1)
        }
        r.startListening(intent)
    }

    fun stop() {
        recognizer?.destroy()
        recognizer = null
    }

    companion object {
        const val UNAVAILABLE = "This phone cannot recognise speech on the phone itself, and this app does not send your voice anywhere. Type the question, or use the default question."
    }
}
