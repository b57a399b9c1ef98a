package org.vizwiz.vqa

import android.app.Application
import android.graphics.Bitmap
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.vizwiz.vqa.core.AnswerDecoder
import org.vizwiz.vqa.core.CoreException
import org.vizwiz.vqa.engine.EngineException
import java.io.File

/** What the screen shows; every string here is also what TalkBack or the speaker says. */
data class UiState(
    val bundles: List<String> = emptyList(),
    val bundle: String? = null,
    val status: String = "Loading the model",
    val ready: Boolean = false,
    val busy: Boolean = false,
    val question: String = "",
    val answer: String? = null,
    val retake: Boolean = false,
)

/** Loads the bundle and answers, off the main thread; the model is closed with the screen. */
class MainViewModel(application: Application) : AndroidViewModel(application) {
    val settings = Settings(application)
    private val state = MutableStateFlow(UiState())
    val ui: StateFlow<UiState> = state
    private var model: VqaModel? = null
    private var folders: Map<String, File> = emptyMap()

    init {
        reload()
    }

    fun setQuestion(text: String) = state.update { it.copy(question = text) }

    fun selectBundle(name: String) {
        settings.bundle = name
        reload()
    }

    /** (Re)loads the chosen bundle with the thread count of the settings. */
    fun reload() {
        viewModelScope.launch {
            state.update { it.copy(ready = false, status = "Loading the model") }
            val result = withContext(Dispatchers.IO) {
                runCatching {
                    model?.close()
                    model = null
                    folders = Bundles.folders(getApplication()).associateBy { it.name }
                    val name = settings.bundle?.takeIf { it in folders } ?: folders.keys.firstOrNull()
                        ?: throw CoreException("No model bundle found. Copy one to the app, see the README.")
                    VqaModel.load(folders.getValue(name), settings.threads).also { model = it } to name
                }
            }
            result.fold(
                onSuccess = { (loaded, name) ->
                    state.update {
                        it.copy(bundles = folders.keys.toList(), bundle = name, ready = true,
                            status = "Ready. ${loaded.manifest.format} ${loaded.manifest.precision} model.")
                    }
                },
                onFailure = { err ->
                    state.update { it.copy(bundles = folders.keys.toList(), ready = false, status = messageOf(err)) }
                },
            )
        }
    }

    /** Answers `question` (or the default one) about `photo`; returns the sentence to speak. */
    suspend fun ask(photo: Bitmap, question: String?): String {
        val loaded = model ?: return state.value.status
        val text = question?.takeIf { it.isNotBlank() } ?: settings.defaultQuestion
        state.update { it.copy(busy = true, answer = null) }
        val sentence = withContext(Dispatchers.Default) {
            runCatching { loaded.answer(photo, text) }.fold(
                onSuccess = { phrase(it) },
                onFailure = { messageOf(it) to false },
            )
        }
        state.update { it.copy(busy = false, answer = sentence.first, retake = sentence.second) }
        return sentence.first
    }

    private fun phrase(decoded: AnswerDecoder.Decoded): Pair<String, Boolean> {
        val answerable = decoded.answerable
        return when {
            decoded.isUnanswerable ->
                "I cannot answer that from this photo. Try again: hold the phone steady, a little further away, with more light." to true
            answerable != null && answerable < settings.threshold ->
                "Maybe ${decoded.answer}, but I am not sure. Try another photo: closer, with more light, holding steady." to true
            else -> decoded.answer to false
        }
    }

    override fun onCleared() {
        model?.close()
        model = null
    }

    companion object {
        fun messageOf(err: Throwable): String = when (err) {
            is CoreException, is EngineException -> err.message ?: "The model cannot run."
            else -> "Something went wrong: ${err.message ?: err.javaClass.simpleName}"
        }
    }
}
