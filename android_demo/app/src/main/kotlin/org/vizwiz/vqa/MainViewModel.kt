package org.vizwiz.vqa

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import org.vizwiz.vqa.core.CoreException
import org.vizwiz.vqa.core.ImageQuality
import org.vizwiz.vqa.core.Manifest
import org.vizwiz.vqa.core.Replies
import org.vizwiz.vqa.engine.EngineException
import java.io.File

/** What the screen shows; every string here is also what TalkBack or the speaker says. */
data class UiState(
    val bundles: List<String> = emptyList(),
    val bundle: String? = null,
    val status: String = "Loading the model",
    val ready: Boolean = false,
    val loading: Boolean = true,
    val busy: Boolean = false,
    val question: String = "",
    val answer: String? = null,
    val retake: Boolean = false,
    /** A photo was answered; "ask again about this photo" is offered. */
    val hasPhoto: Boolean = false,
)

/** The reply to one question: what to say, whether to retake, whether to switch the torch on. */
data class Outcome(val sentence: String, val retake: Boolean, val torch: Boolean = false)

/**
 * Loads the bundle and answers, off the main thread. One mutex serialises every use of the
 * model: a question while the model loads or answers is turned away with "still loading" /
 * "still answering", and a reload waits for the running question before it closes the engine
 * (the runtimes free native memory on close: closing during a run is a use-after-free).
 */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    val settings = Settings(application)
    private val state = MutableStateFlow(UiState())
    val ui: StateFlow<UiState> = state
    private val lock = Mutex()
    private var model: VqaModel? = null
    private var folders: Map<String, File> = emptyMap()

    init {
        reload()
    }

    fun setQuestion(text: String) = state.update { it.copy(question = text) }

    /** Shows `message` where answers appear (the live region TalkBack reads). */
    fun show(message: String) = state.update { it.copy(answer = message) }

    fun selectBundle(name: String) {
        settings.bundle = name
        reload()
    }

    /** (Re)loads the chosen bundle with the thread count of the settings. */
    fun reload() {
        viewModelScope.launch {
            state.update { it.copy(ready = false, loading = true, status = "Loading the model") }
            val result = withContext(Dispatchers.IO) {
                lock.withLock {
                    runCatching {
                        model?.close()
                        model = null
                        folders = Bundles.folders(getApplication()).associateBy { it.name }
                        val name = settings.bundle?.takeIf { it in folders } ?: folders.keys.firstOrNull()
                            ?: throw CoreException("No model on this phone yet. Open Settings and import one.")
                        val manifest = Manifest.read(folders.getValue(name))
                        VqaModel.open(manifest, settings.threads).also { model = it } to name
                    }
                }
            }
            result.fold(
                onSuccess = { (loaded, name) ->
                    state.update {
                        it.copy(bundles = folders.keys.toList(), bundle = name, ready = true, loading = false,
                            status = "Ready. ${loaded.manifest.format} ${loaded.manifest.precision} model.")
                    }
                },
                onFailure = { err ->
                    state.update { it.copy(bundles = folders.keys.toList(), ready = false, loading = false, status = messageOf(err)) }
                },
            )
        }
    }

    /**
     * Answers `question` (or the default one) about `photo`. With `checkQuality`, a photo too
     * dark, too bright or blurred is not given to the model: the reply says why to retake (and
     * asks for the torch when it is dark and `torchOn` is false).
     */
    suspend fun ask(photo: Bitmap, question: String?, checkQuality: Boolean, torchOn: Boolean): Outcome {
        if (!lock.tryLock()) {
            return Outcome(if (state.value.loading) "Still loading the model. Try again in a moment." else "Still answering. Wait for the answer.", false)
        }
        try {
            val loaded = model ?: return Outcome(state.value.status, false)
            val text = question?.takeIf { it.isNotBlank() } ?: settings.defaultQuestion
            state.update { it.copy(busy = true, answer = null) }
            val outcome = withContext(Dispatchers.Default) {
                runCatching {
                    val inputs = loaded.inputs(photo, text)
                    val before = if (checkQuality) Replies.beforeModel(inputs.quality, torchOn) else null
                    if (before != null) {
                        Outcome(before.sentence, true, torch = inputs.quality.verdict == ImageQuality.Verdict.TOO_DARK && !torchOn)
                    } else {
                        val decoded = loaded.decode(loaded.logits(inputs))
                        val reply = Replies.answer(decoded, settings.threshold.toDouble(), inputs.quality.takeUnless { it.ok })
                        Outcome(reply.sentence, reply.retake)
                    }
                }.getOrElse { Outcome(messageOf(it), true) }
            }
            state.update { it.copy(busy = false, answer = outcome.sentence, retake = outcome.retake, hasPhoto = true) }
            return outcome
        } finally {
            lock.unlock()
        }
    }

    /** Imports a bundle (a folder or a .zip picked with the system picker), checked, then loads it. */
    suspend fun import(uri: Uri, folder: Boolean): String {
        val result = withContext(Dispatchers.IO) { runCatching { BundleImport.import(getApplication(), uri, folder) } }
        return result.fold(
            onSuccess = { name ->
                selectBundle(name)
                "Imported the model $name."
            },
            onFailure = { "Could not import the model: ${messageOf(it)}" },
        )
    }

    override fun onCleared() {
        // Not on viewModelScope (cancelled by now): close once no question runs.
        CoroutineScope(Dispatchers.IO).launch {
            lock.withLock {
                model?.close()
                model = null
            }
        }
    }

    companion object {
        fun messageOf(err: Throwable): String = when (err) {
            is CoreException, is EngineException -> err.message ?: "The model cannot run."
            is OutOfMemoryError -> "The phone ran out of memory for this model. Choose a smaller model in Settings."
            else -> "Something went wrong: ${err.message ?: err.javaClass.simpleName}"
        }
    }
}
