package org.vizwiz.vqa.ui

import android.net.Uri
import androidx.activity.compose.BackHandler
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Slider
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableFloatStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.Role
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.stateDescription
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.vizwiz.vqa.MainViewModel
import kotlin.math.roundToInt

/**
 * Default question, "unsure" threshold, engine threads, the bundle, and importing a bundle;
 * saved on "Done"; Back leaves without saving.
 */
@Composable
fun SettingsScreen(viewModel: MainViewModel, onMessage: (String) -> Unit, onClose: () -> Unit) {
    val settings = viewModel.settings
    val ui by viewModel.ui.collectAsStateWithLifecycle()
    var question by remember { mutableStateOf(settings.defaultQuestion) }
    var threshold by remember { mutableFloatStateOf(settings.threshold) }
    var threads by remember { mutableFloatStateOf(settings.threads.toFloat()) }
    var bundle by remember { mutableStateOf(ui.bundle) }
    val scope = rememberCoroutineScope()
    BackHandler(onBack = onClose)

    var note by remember { mutableStateOf<String?>(null) }

    fun say(message: String) {
        note = message
        onMessage(message)
    }

    fun imported(uri: Uri?, folder: Boolean) {
        if (uri == null) return
        say("Importing and checking the model.")
        scope.launch {
            say(viewModel.import(uri, folder))
            bundle = settings.bundle // an imported model is the chosen one
        }
    }
    val importFolder = rememberLauncherForActivityResult(ActivityResultContracts.OpenDocumentTree()) { imported(it, folder = true) }
    val importZip = rememberLauncherForActivityResult(ActivityResultContracts.OpenDocument()) { imported(it, folder = false) }

    Surface(modifier = Modifier.fillMaxSize(), color = MaterialTheme.colorScheme.background) {
        Column(
            modifier = Modifier.fillMaxSize().safeDrawingPadding().padding(16.dp).verticalScroll(rememberScrollState()),
            verticalArrangement = Arrangement.spacedBy(16.dp),
        ) {
            Text("Settings", fontSize = 30.sp, modifier = Modifier.semantics { heading() })
            note?.let {
                Text(it, fontSize = 22.sp, modifier = Modifier.fillMaxWidth().semantics { liveRegion = LiveRegionMode.Polite })
            }
            // The label names the field; no contentDescription, which would hide the typed text from TalkBack.
            OutlinedTextField(
                value = question,
                onValueChange = { question = it },
                label = { Text("Default question") },
                singleLine = true,
                modifier = Modifier.fillMaxWidth().heightIn(min = 72.dp),
            )
            Text("Say \"not sure\" below: ${(threshold * 100).roundToInt()} %", fontSize = 20.sp)
            Slider(
                value = threshold,
                onValueChange = { threshold = it },
                valueRange = 0f..1f,
                steps = 19,
                modifier = Modifier.fillMaxWidth().heightIn(min = 72.dp).semantics {
                    contentDescription = "Confidence below which the app asks for another photo"
                    stateDescription = "${(threshold * 100).roundToInt()} percent"
                },
            )
            Text("Engine threads: ${threads.roundToInt()}", fontSize = 20.sp)
            Slider(
                value = threads,
                onValueChange = { threads = it },
                valueRange = 1f..8f,
                steps = 6,
                modifier = Modifier.fillMaxWidth().heightIn(min = 72.dp).semantics {
                    contentDescription = "Engine threads"
                    stateDescription = "${threads.roundToInt()} threads"
                },
            )
            Text("Model", fontSize = 20.sp, modifier = Modifier.semantics { heading() })
            for (name in ui.bundles) {
                Row(
                    verticalAlignment = Alignment.CenterVertically,
                    modifier = Modifier.fillMaxWidth().heightIn(min = 72.dp)
                        .selectable(selected = name == bundle, onClick = { bundle = name }, role = Role.RadioButton)
                        .semantics { contentDescription = "Model $name" },
                ) {
                    RadioButton(selected = name == bundle, onClick = null)
                    Text(name, fontSize = 20.sp, modifier = Modifier.padding(start = 12.dp))
                }
            }
            OutlinedButton(
                onClick = { importFolder.launch(null) },
                modifier = Modifier.fillMaxWidth().heightIn(min = 72.dp).semantics { contentDescription = "Import a model folder from the phone's files" },
            ) { Text("Import a model folder", fontSize = 20.sp) }
            OutlinedButton(
                onClick = { importZip.launch(arrayOf("application/zip", "application/x-zip-compressed")) },
                modifier = Modifier.fillMaxWidth().heightIn(min = 72.dp).semantics { contentDescription = "Import a model from a zip file" },
            ) { Text("Import a model zip file", fontSize = 20.sp) }
            Button(
                onClick = {
                    val reload = threads.roundToInt() != settings.threads || bundle != ui.bundle
                    settings.defaultQuestion = question
                    settings.threshold = threshold
                    settings.threads = threads.roundToInt()
                    if (bundle != null && bundle != ui.bundle) viewModel.selectBundle(bundle!!) else if (reload) viewModel.reload()
                    onClose()
                },
                modifier = Modifier.fillMaxWidth().heightIn(min = 96.dp).semantics { contentDescription = "Save settings and go back" },
            ) { Text("Done", fontSize = 26.sp) }
        }
    }
}
