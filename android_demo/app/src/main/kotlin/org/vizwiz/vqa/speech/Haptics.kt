package org.vizwiz.vqa.speech

import android.content.Context
import android.os.Build
import android.os.VibrationEffect
import android.os.Vibrator
import android.os.VibratorManager

/** Short vibrations that say "photo taken", "speak now", "answer ready" and "try again" without looking. */
class Haptics(context: Context) {
    private val vibrator: Vibrator? = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
        context.getSystemService(VibratorManager::class.java)?.defaultVibrator
    } else {
        @Suppress("DEPRECATION")
        context.getSystemService(Vibrator::class.java)
    }

    fun captured() = play(longArrayOf(0, 40))
    /** The recogniser listens now: speak. */
    fun listening() = play(longArrayOf(0, 30, 60, 30, 60, 30))
    fun answered() = play(longArrayOf(0, 60, 80, 60))
    fun retake() = play(longArrayOf(0, 200, 100, 200))

    private fun play(pattern: LongArray) {
        val v = vibrator ?: return
        if (!v.hasVibrator()) return
        v.vibrate(VibrationEffect.createWaveform(pattern, -1))
    }
}
