package org.vizwiz.vqa

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import org.vizwiz.vqa.speech.Haptics
import org.vizwiz.vqa.speech.Speaker
import org.vizwiz.vqa.speech.SpeechInput
import org.vizwiz.vqa.ui.VqaScreen
import org.vizwiz.vqa.ui.VqaTheme

/** Take a photo, ask (voice, typing or one tap on the default question), hear the answer. */
class MainActivity : ComponentActivity() {
    private val viewModel: MainViewModel by viewModels()
    private lateinit var speaker: Speaker
    private lateinit var speech: SpeechInput

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        speaker = Speaker(this)
        speech = SpeechInput(this)
        val haptics = Haptics(this)
        setContent {
            VqaTheme {
                VqaScreen(viewModel, speaker, speech, haptics)
            }
        }
    }

    override fun onDestroy() {
        speech.stop()
        speaker.shutdown()
        super.onDestroy()
    }
}
