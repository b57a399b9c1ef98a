package org.vizwiz.vqa.ui

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.view.View
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalView
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.heading
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.traversalIndex
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.LocalLifecycleOwner
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.vizwiz.vqa.Images
import org.vizwiz.vqa.MainViewModel
import org.vizwiz.vqa.speech.Haptics
import org.vizwiz.vqa.speech.Speaker
import org.vizwiz.vqa.speech.SpeechInput
import kotlin.coroutines.resume
import kotlin.coroutines.suspendCoroutine

private val TOUCH = 72.dp

/**
 * One screen: the camera preview, one large shutter that takes the photo and asks, the question
 * (voice, typed, or the default one), the answer in large text, announced and spoken. Focus
 * order: answer, shutter, question, voice, default question, settings.
 */
@Composable
fun VqaScreen(viewModel: MainViewModel, speaker: Speaker, speech: SpeechInput, haptics: Haptics) {
    val context = LocalContext.current
    val view = LocalView.current
    val scope = rememberCoroutineScope()
    val ui by viewModel.ui.collectAsStateWithLifecycle()
    var showSettings by remember { mutableStateOf(false) }
    var photo by remember { mutableStateOf<Bitmap?>(null) }
    var cameraGranted by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED)
    }
    val capture = remember { ImageCapture.Builder().setCaptureMode(ImageCapture.CAPTURE_MODE_MINIMIZE_LATENCY).build() }
    val cameraPermission = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { cameraGranted = it }
    val micPermission = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (!granted) speaker.say("Allow the microphone to ask by voice, or type the question.", view)
    }

    LaunchedEffect(Unit) { if (!cameraGranted) cameraPermission.launch(Manifest.permission.CAMERA) }
    LaunchedEffect(ui.status) { if (!ui.ready) speaker.say(ui.status, view) }

    fun askAbout(bitmap: Bitmap, question: String?) {
        scope.launch {
            val answer = viewModel.ask(bitmap, question)
            if (viewModel.ui.value.retake) haptics.retake() else haptics.answered()
            speaker.say(answer, view)
        }
    }

    fun shoot(question: String?) {
        if (!ui.ready || ui.busy) {
            speaker.say(if (ui.busy) "Still thinking." else ui.status, view)
            return
        }
        scope.launch {
            val bitmap = takePhoto(capture, context)
            if (bitmap == null) {
                speaker.say("The camera could not take a photo. Try again.", view)
                return@launch
            }
            haptics.captured()
            photo = bitmap
            askAbout(bitmap, question)
        }
    }

    if (showSettings) {
        SettingsScreen(viewModel, onClose = { showSettings = false })
        return
    }

    Surface(modifier = Modifier.fillMaxSize(), color = MaterialTheme.colorScheme.background) {
        Column(
            modifier = Modifier.fillMaxSize().safeDrawingPadding().padding(12.dp),
            verticalArrangement = Arrangement.spacedBy(10.dp),
        ) {
            Text(
                text = ui.answer ?: if (ui.busy) "Thinking…" else ui.status,
                fontSize = 32.sp,
                fontWeight = FontWeight.Bold,
                modifier = Modifier.fillMaxWidth().semantics {
                    heading()
                    liveRegion = LiveRegionMode.Polite
                    traversalIndex = 0f
                },
            )
            Box(modifier = Modifier.weight(1f).fillMaxWidth()) {
                if (cameraGranted) {
                    CameraPreview(capture, Modifier.fillMaxSize().semantics { contentDescription = "Camera view. Point the phone at what you want to ask about." })
                } else {
                    OutlinedButton(
                        onClick = { cameraPermission.launch(Manifest.permission.CAMERA) },
                        modifier = Modifier.fillMaxSize().semantics { contentDescription = "Allow the camera" },
                    ) { Text("Allow the camera", fontSize = 24.sp) }
                }
            }
            Button(
                onClick = { shoot(ui.question) },
                enabled = cameraGranted,
                modifier = Modifier.fillMaxWidth().heightIn(min = 120.dp).semantics {
                    contentDescription = "Take photo and ask" + if (ui.question.isBlank()) ": ${viewModel.settings.defaultQuestion}" else ": ${ui.question}"
                    traversalIndex = 1f
                },
            ) { Text("Take photo and ask", fontSize = 28.sp, fontWeight = FontWeight.Bold) }
            OutlinedTextField(
                value = ui.question,
                onValueChange = viewModel::setQuestion,
                label = { Text("Question (empty: ${viewModel.settings.defaultQuestion})") },
                singleLine = true,
                textStyle = MaterialTheme.typography.titleLarge,
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                    contentDescription = "Question. Empty asks: ${viewModel.settings.defaultQuestion}"
                    traversalIndex = 2f
                },
            )
            Row(horizontalArrangement = Arrangement.spacedBy(10.dp), modifier = Modifier.fillMaxWidth()) {
                OutlinedButton(
                    onClick = {
                        if (ContextCompat.checkSelfPermission(context, Manifest.permission.RECORD_AUDIO) != PackageManager.PERMISSION_GRANTED) {
                            micPermission.launch(Manifest.permission.RECORD_AUDIO)
                        } else if (!speech.available) {
                            speaker.say("This phone cannot recognise speech offline. Type the question instead.", view)
                        } else {
                            speech.listen(
                                onResult = { heard ->
                                    viewModel.setQuestion(heard)
                                    val last = photo
                                    if (last != null) askAbout(last, heard) else speaker.say("$heard. Now take the photo.", view)
                                },
                                onError = { speaker.say(it, view) },
                            )
                        }
                    },
                    modifier = Modifier.weight(1f).heightIn(min = TOUCH).semantics {
                        contentDescription = "Ask by voice"
                        traversalIndex = 3f
                    },
                ) { Text("Speak", fontSize = 22.sp) }
                OutlinedButton(
                    onClick = {
                        viewModel.setQuestion("")
                        val last = photo
                        if (last != null) askAbout(last, null) else shoot(null)
                    },
                    modifier = Modifier.weight(1f).heightIn(min = TOUCH).semantics {
                        contentDescription = "Ask: ${viewModel.settings.defaultQuestion}"
                        traversalIndex = 4f
                    },
                ) { Text(viewModel.settings.defaultQuestion, fontSize = 22.sp) }
            }
            OutlinedButton(
                onClick = { showSettings = true },
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                    contentDescription = "Settings"
                    traversalIndex = 5f
                },
            ) { Text("Settings", fontSize = 22.sp) }
        }
    }
}

@Composable
private fun CameraPreview(capture: ImageCapture, modifier: Modifier) {
    val context = LocalContext.current
    val owner = LocalLifecycleOwner.current
    val previewView = remember { PreviewView(context).apply { importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO } }
    DisposableEffect(owner) {
        val future = ProcessCameraProvider.getInstance(context)
        future.addListener({
            val provider = future.get()
            val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
            provider.unbindAll()
            provider.bindToLifecycle(owner, CameraSelector.DEFAULT_BACK_CAMERA, preview, capture)
        }, ContextCompat.getMainExecutor(context))
        onDispose { if (future.isDone) future.get().unbindAll() }
    }
    AndroidView(factory = { previewView }, modifier = modifier)
}

/** One photo in memory, turned upright by the rotation CameraX reports; null on failure. */
private suspend fun takePhoto(capture: ImageCapture, context: android.content.Context): Bitmap? =
    suspendCoroutine { continuation ->
        capture.takePicture(
            ContextCompat.getMainExecutor(context),
            object : ImageCapture.OnImageCapturedCallback() {
                override fun onCaptureSuccess(image: ImageProxy) {
                    val bitmap = image.use { Images.upright(it) }
                    continuation.resume(bitmap)
                }

                override fun onError(exception: ImageCaptureException) {
                    continuation.resume(null)
                }
            },
        )
    }
