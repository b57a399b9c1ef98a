package org.vizwiz.vqa.ui

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.net.Uri
import android.provider.Settings as SystemSettings
import android.util.Size
import android.view.View
import androidx.activity.compose.LocalActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.Camera
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageCapture
import androidx.camera.core.ImageCaptureException
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
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
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.compose.LifecycleEventEffect
import androidx.lifecycle.compose.LocalLifecycleOwner
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext
import org.vizwiz.vqa.Images
import org.vizwiz.vqa.MainViewModel
import org.vizwiz.vqa.speech.Haptics
import org.vizwiz.vqa.speech.Speaker
import org.vizwiz.vqa.speech.SpeechInput
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import kotlin.coroutines.resume

private val TOUCH = 72.dp

/** The camera is asked for about what the model and the quality check need, not 12-50 MP. */
private val CAPTURE_SIZE = Size(1280, 960)

/**
 * One screen that scrolls (also at 200 % font size): the answer in large text (a polite live
 * region: TalkBack reads each message once), the camera preview, one large shutter that takes a
 * fresh photo and asks, the question (typed, by voice, or the default one, each asking about a
 * fresh photo), "ask again about this photo", a photo picker, settings.
 */
@Composable
fun VqaScreen(viewModel: MainViewModel, speaker: Speaker, speech: SpeechInput, haptics: Haptics) {
    val context = LocalContext.current
    val activity = LocalActivity.current
    val scope = rememberCoroutineScope()
    val ui by viewModel.ui.collectAsStateWithLifecycle()
    var showSettings by remember { mutableStateOf(false) }
    var photo by remember { mutableStateOf<Bitmap?>(null) }
    var camera by remember { mutableStateOf<Camera?>(null) }
    var torchOn by remember { mutableStateOf(false) }
    var cameraGranted by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED)
    }
    var cameraDeniedForever by remember { mutableStateOf(false) }
    val capture = remember {
        val selector = ResolutionSelector.Builder()
            .setAspectRatioStrategy(AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY)
            .setResolutionStrategy(ResolutionStrategy(CAPTURE_SIZE, ResolutionStrategy.FALLBACK_RULE_CLOSEST_LOWER_THEN_HIGHER))
            .build()
        ImageCapture.Builder().setCaptureMode(ImageCapture.CAPTURE_MODE_MINIMIZE_LATENCY).setResolutionSelector(selector).build()
    }
    // JPEG decoding and rotation of a capture run here, never on the main thread.
    val captureExecutor: ExecutorService = remember { Executors.newSingleThreadExecutor() }
    DisposableEffect(Unit) { onDispose { captureExecutor.shutdown() } }

    fun tell(text: String) {
        viewModel.show(text)
        speaker.say(text)
    }

    val cameraPermission = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        cameraGranted = granted
        cameraDeniedForever = !granted && activity != null && !activity.shouldShowRequestPermissionRationale(Manifest.permission.CAMERA)
        if (!granted) tell(if (cameraDeniedForever) "The camera is not allowed. Open the settings to allow it, or pick a photo." else "Allow the camera, or pick a photo.")
    }
    val micPermission = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (!granted) tell("Allow the microphone to ask by voice, or type the question.")
    }

    LaunchedEffect(Unit) { if (!cameraGranted) cameraPermission.launch(Manifest.permission.CAMERA) }
    LaunchedEffect(ui.status) { if (!ui.ready) speaker.say(ui.status) }
    LifecycleEventEffect(Lifecycle.Event.ON_RESUME) {
        // back from the system settings: the permission may have changed there
        cameraGranted = ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED
    }

    fun answer(bitmap: Bitmap, question: String?, checkQuality: Boolean) {
        scope.launch {
            val outcome = viewModel.ask(bitmap, question, checkQuality, torchOn)
            var sentence = outcome.sentence
            val torch = camera?.takeIf { outcome.torch && it.cameraInfo.hasFlashUnit() }
            if (torch != null) {
                torch.cameraControl.enableTorch(true)
                torchOn = true
                sentence = "The photo is too dark. I turned the torch on: take the photo again."
                viewModel.show(sentence)
            }
            if (outcome.retake) haptics.retake() else haptics.answered()
            speaker.say(sentence)
        }
    }

    fun shoot(question: String?) {
        when {
            !ui.ready -> tell(if (ui.loading) "Still loading the model. Try again in a moment." else ui.status)
            ui.busy -> tell("Still answering. Wait for the answer.")
            !cameraGranted || camera == null -> tell("The camera is not available. Pick a photo instead.")
            else -> scope.launch {
                val bitmap = takePhoto(capture, captureExecutor)
                if (bitmap == null) {
                    tell("The camera could not take a photo. Try again.")
                    return@launch
                }
                haptics.captured()
                photo = bitmap
                answer(bitmap, question, checkQuality = true)
            }
        }
    }

    val picker = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
        if (uri == null) return@rememberLauncherForActivityResult
        scope.launch {
            val picked = withContext(Dispatchers.Default) { runCatching { Images.decodeUpright(context, uri) } }
            picked.fold(
                onSuccess = { bitmap ->
                    photo = bitmap
                    answer(bitmap, ui.question, checkQuality = true)
                },
                onFailure = { tell(MainViewModel.messageOf(it)) },
            )
        }
    }

    if (showSettings) {
        SettingsScreen(viewModel, onMessage = ::tell, onClose = { showSettings = false })
        return
    }

    Surface(modifier = Modifier.fillMaxSize(), color = MaterialTheme.colorScheme.background) {
        Column(
            modifier = Modifier.fillMaxSize().safeDrawingPadding().verticalScroll(rememberScrollState()).padding(12.dp),
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
            Box(modifier = Modifier.fillMaxWidth().height(280.dp)) {
                if (cameraGranted) {
                    CameraPreview(
                        capture,
                        Modifier.fillMaxSize().semantics { contentDescription = "Camera view. Point the phone at what you want to ask about." },
                        onBound = { camera = it; torchOn = false },
                        onError = { camera = null; tell(it) },
                    )
                } else if (cameraDeniedForever) {
                    OutlinedButton(
                        onClick = {
                            context.startActivity(Intent(SystemSettings.ACTION_APPLICATION_DETAILS_SETTINGS, Uri.fromParts("package", context.packageName, null)))
                        },
                        modifier = Modifier.fillMaxSize().semantics { contentDescription = "Open the settings to allow the camera" },
                    ) { Text("Open the settings to allow the camera", fontSize = 24.sp) }
                } else {
                    OutlinedButton(
                        onClick = { cameraPermission.launch(Manifest.permission.CAMERA) },
                        modifier = Modifier.fillMaxSize().semantics { contentDescription = "Allow the camera" },
                    ) { Text("Allow the camera", fontSize = 24.sp) }
                }
            }
            Button(
                onClick = { shoot(ui.question) },
                modifier = Modifier.fillMaxWidth().heightIn(min = 120.dp).semantics {
                    contentDescription = "Take photo and ask" + if (ui.question.isBlank()) ": ${viewModel.settings.defaultQuestion}" else ": ${ui.question}"
                    traversalIndex = 1f
                },
            ) { Text("Take photo and ask", fontSize = 28.sp, fontWeight = FontWeight.Bold) }
            // The label names the field for TalkBack; no contentDescription, which would hide the typed text.
            OutlinedTextField(
                value = ui.question,
                onValueChange = viewModel::setQuestion,
                label = { Text("Question (empty asks: ${viewModel.settings.defaultQuestion})") },
                singleLine = true,
                textStyle = MaterialTheme.typography.titleLarge,
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics { traversalIndex = 2f },
            )
            OutlinedButton(
                onClick = {
                    if (ContextCompat.checkSelfPermission(context, Manifest.permission.RECORD_AUDIO) != PackageManager.PERMISSION_GRANTED) {
                        micPermission.launch(Manifest.permission.RECORD_AUDIO)
                    } else if (!speech.available) {
                        if (!viewModel.settings.speechNoticeGiven) {
                            viewModel.settings.speechNoticeGiven = true
                            tell(SpeechInput.UNAVAILABLE)
                        } else {
                            tell("Voice questions are not available on this phone. Type the question.")
                        }
                    } else {
                        speech.listen(
                            onReady = { haptics.listening() },
                            onResult = { heard ->
                                viewModel.setQuestion(heard)
                                shoot(heard)
                            },
                            onError = ::tell,
                        )
                    }
                },
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                    contentDescription = "Ask by voice. After the vibration, speak; a fresh photo is taken."
                    traversalIndex = 3f
                },
            ) { Text("Speak the question", fontSize = 22.sp) }
            OutlinedButton(
                onClick = {
                    viewModel.setQuestion("")
                    shoot(null)
                },
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                    contentDescription = "Take photo and ask: ${viewModel.settings.defaultQuestion}"
                    traversalIndex = 4f
                },
            ) { Text(viewModel.settings.defaultQuestion, fontSize = 22.sp) }
            val last = photo
            if (last != null && ui.hasPhoto) {
                OutlinedButton(
                    onClick = { if (ui.busy) tell("Still answering. Wait for the answer.") else answer(last, ui.question, checkQuality = false) },
                    modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                        contentDescription = "Ask again about this photo, without taking a new one"
                        traversalIndex = 5f
                    },
                ) { Text("Ask again about this photo", fontSize = 22.sp) }
            }
            OutlinedButton(
                onClick = { picker.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly)) },
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                    contentDescription = "Pick a photo from the phone and ask"
                    traversalIndex = 6f
                },
            ) { Text("Pick a photo", fontSize = 22.sp) }
            OutlinedButton(
                onClick = { showSettings = true },
                modifier = Modifier.fillMaxWidth().heightIn(min = TOUCH).semantics {
                    contentDescription = "Settings"
                    traversalIndex = 7f
                },
            ) { Text("Settings", fontSize = 22.sp) }
        }
    }
}

/**
 * The preview and the capture bound to the back camera, or the front one on phones without a
 * back camera; a camera that cannot be bound (in use by another app, none at all) is reported
 * through `onError` as a sentence to speak, never a crash.
 */
@Composable
private fun CameraPreview(capture: ImageCapture, modifier: Modifier, onBound: (Camera) -> Unit, onError: (String) -> Unit) {
    val context = LocalContext.current
    val owner = LocalLifecycleOwner.current
    val previewView = remember { PreviewView(context).apply { importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO } }
    DisposableEffect(owner) {
        val future = ProcessCameraProvider.getInstance(context)
        future.addListener({
            try {
                val provider = future.get()
                val selector = when {
                    provider.hasCamera(CameraSelector.DEFAULT_BACK_CAMERA) -> CameraSelector.DEFAULT_BACK_CAMERA
                    provider.hasCamera(CameraSelector.DEFAULT_FRONT_CAMERA) -> CameraSelector.DEFAULT_FRONT_CAMERA
                    else -> null
                }
                if (selector == null) {
                    onError("This phone has no camera the app can use. Pick a photo instead.")
                } else {
                    val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
                    provider.unbindAll()
                    onBound(provider.bindToLifecycle(owner, selector, preview, capture))
                }
            } catch (err: Exception) {
                onError("The camera cannot start: it may be in use by another app. Close it and come back, or pick a photo.")
            }
        }, ContextCompat.getMainExecutor(context))
        onDispose { if (future.isDone) runCatching { future.get().unbindAll() } }
    }
    AndroidView(factory = { previewView }, modifier = modifier)
}

/** One photo, decoded and turned upright on `executor` (not the main thread); null on failure. */
private suspend fun takePhoto(capture: ImageCapture, executor: ExecutorService): Bitmap? =
    suspendCancellableCoroutine { continuation ->
        capture.takePicture(
            executor,
            object : ImageCapture.OnImageCapturedCallback() {
                override fun onCaptureSuccess(image: ImageProxy) {
                    val bitmap = try {
                        image.use { Images.upright(it) }
                    } catch (err: Exception) {
                        null
                    } catch (err: OutOfMemoryError) {
                        null
                    }
                    continuation.resume(bitmap)
                }

                override fun onError(exception: ImageCaptureException) {
                    continuation.resume(null)
                }
            },
        )
    }
