package org.vizwiz.vqa.ui

import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.ui.graphics.Color

/** High contrast in both modes: yellow on black in dark, black on white in light. */
@Composable
fun VqaTheme(content: @Composable () -> Unit) {
    val colors = if (isSystemInDarkTheme()) {
        darkColorScheme(primary = Color(0xFFFFD600), onPrimary = Color.Black, background = Color.Black, onBackground = Color.White, surface = Color.Black, onSurface = Color.White)
    } else {
        lightColorScheme(primary = Color(0xFF0033CC), onPrimary = Color.White, background = Color.White, onBackground = Color.Black, surface = Color.White, onSurface = Color.Black)
    }
    MaterialTheme(colorScheme = colors, content = content)
}
