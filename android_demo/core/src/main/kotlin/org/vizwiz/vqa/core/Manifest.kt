package org.vizwiz.vqa.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import java.io.File
import java.security.MessageDigest

/**
 * A bundle's `manifest.json` (vqa/bundle.py writes it): what a runtime needs and must not guess.
 *
 * [read] checks the fields the app uses and, like `vqa.bundle.read_bundle`, that every file name
 * the manifest holds (model, tokenizer, answers, `files`) resolves inside the bundle folder,
 * symbolic links followed, and that every listed file exists with the listed size and sha256;
 * every error names the file or manifest entry and the problem.
 */
class Manifest private constructor(
    val dir: File,
    val json: JSONObject,
    val format: String,
    val precision: String,
    val quantizationScheme: String,
    val modelFile: String,
    val files: Map<String, FileEntry>,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val preprocessing: Preprocessing,
    val tokenizer: TokenizerSpec,
    val answers: AnswersSpec,
    val answerableRule: String,
    val sourceSha256: String,
    val sourceConfig: String?,
    val parityStatus: String,
    val runtime: JSONObject,
) {
    data class FileEntry(val bytes: Long, val sha256: String)

    data class TensorSpec(val name: String, val shape: List<Any>, val dtype: String)

    data class Preprocessing(
        val imageSize: Int,
        val mean: FloatArray,
        val std: FloatArray,
        val scale: Double,
        val layout: String,
        val channelOrder: String,
    )

    data class TokenizerSpec(
        val file: String,
        val sha256: String,
        val maxLen: Int,
        val bosId: Int,
        val padId: Int,
        val eosId: Int,
        val unkId: Int,
        val idOffset: Int,
    )

    data class AnswersSpec(val file: String, val count: Int, val unanswerableIndex: Int?)

    val modelPath: File get() = File(dir, modelFile)

    /** ONNX bundles: the optimized ORT-format copy of the model (`runtime.ort_file`), when written. */
    val ortFile: String? get() = if (format == "onnx") runtime.optString("ort_file", "").ifEmpty { null } else null

    /** The file a runtime loads: the ORT-format file of an ONNX bundle when there is one, else the model file. */
    val runtimeModelFile: String get() = ortFile ?: modelFile
    val tokenizerPath: File get() = File(dir, tokenizer.file)

    /** Bytes of the model file(s): a Core ML package is a folder. */
    val modelBytes: Long
        get() = files.filter { (name, _) -> name == modelFile || name.startsWith(modelFile.trimEnd('/') + "/") }
            .values.sumOf { it.bytes }

    val bundleBytes: Long get() = files.values.sumOf { it.bytes }

    /** The answer list, checked against the manifest's count. */
    fun readAnswers(): List<String> {
        val file = File(dir, answers.file)
        val lines = try {
            file.readText(Charsets.UTF_8).lines().let { if (it.isNotEmpty() && it.last().isEmpty()) it.dropLast(1) else it }
        } catch (err: java.io.IOException) {
            throw CoreException("$file: cannot read the answers (${err.message})")
        }
        if (lines.size != answers.count) {
            throw CoreException("$file: ${lines.size} answers, the manifest says ${answers.count}")
        }
        return lines
    }

    fun tokenizer(): SentencePieceTokenizer {
        val file = tokenizerPath
        val bytes = try {
            file.readBytes()
        } catch (err: java.io.IOException) {
            throw CoreException("$file: cannot read the tokenizer model (${err.message})")
        }
        return SentencePieceTokenizer(bytes, file.path)
    }

    companion object {
        const val NAME = "manifest.json"
        val FORMATS = setOf("torchscript", "onnx", "coreml", "executorch")

        /** Reads `dir/manifest.json`; `verifyFiles` checks every listed file's size and sha256. */
        fun read(dir: File, verifyFiles: Boolean = true): Manifest {
            val path = File(dir, NAME)
            if (!dir.isDirectory) throw CoreException("$dir: no such bundle folder")
            if (!path.isFile) throw CoreException("$dir: not a bundle (no $NAME)")
            val text = try {
                path.readText(Charsets.UTF_8)
            } catch (err: java.io.IOException) {
                throw CoreException("$path: cannot read (${err.message})")
            }
            val manifest = try {
                parse(dir, JSONObject(text))
            } catch (err: JSONException) {
                throw CoreException("$path: ${err.message}")
            } catch (err: CoreException) {
                throw CoreException("$path: ${err.message}")
            }
            manifest.checkContained(path)
            manifest.checkListed(path)
            if (verifyFiles) manifest.verifyFiles()
            return manifest
        }

        private fun parse(dir: File, m: JSONObject): Manifest {
            val version = m.getInt("schema_version")
            if (version != 1) throw CoreException("schema_version $version is not 1")
            val format = m.getString("format")
            if (format !in FORMATS) throw CoreException("format '$format' is not one of ${FORMATS.sorted()}")
            val files = LinkedHashMap<String, FileEntry>()
            val listed = m.getJSONObject("files")
            for (name in listed.keys()) {
                val entry = listed.getJSONObject(name)
                val sha = entry.getString("sha256")
                if (!Regex("[0-9a-f]{64}").matches(sha)) throw CoreException("files.$name.sha256 is not 64 hex digits")
                files[name] = FileEntry(entry.getLong("bytes"), sha)
            }
            val pre = m.getJSONObject("preprocessing")
            for ((key, expected) in listOf("resize" to "squash", "interpolation" to "bicubic", "layout" to "NCHW", "channel_order" to "RGB")) {
                val value = pre.getString(key)
                if (value != expected) throw CoreException("preprocessing.$key '$value' is not supported (only '$expected')")
            }
            val preprocessing = Preprocessing(
                imageSize = positive(pre.getInt("image_size"), "preprocessing.image_size"),
                mean = floats(pre.getJSONArray("mean"), "preprocessing.mean"),
                std = floats(pre.getJSONArray("std"), "preprocessing.std"),
                scale = pre.getDouble("scale"),
                layout = pre.getString("layout"),
                channelOrder = pre.getString("channel_order"),
            )
            if (preprocessing.std.any { it == 0f }) throw CoreException("preprocessing.std has a zero")
            val tok = m.getJSONObject("tokenizer")
            if (tok.getString("kind") != "sentencepiece-fairseq") {
                throw CoreException("tokenizer.kind '${tok.getString("kind")}' is not sentencepiece-fairseq")
            }
            val tokenizer = TokenizerSpec(
                file = tok.getString("file"),
                sha256 = tok.getString("sha256"),
                maxLen = tok.getInt("max_len").also { if (it < 3) throw CoreException("tokenizer.max_len $it is below 3") },
                bosId = tok.getInt("bos_id"),
                padId = tok.getInt("pad_id"),
                eosId = tok.getInt("eos_id"),
                unkId = tok.getInt("unk_id"),
                idOffset = tok.getInt("id_offset"),
            )
            val expectedIds = listOf(SentencePieceTokenizer.BOS_ID, SentencePieceTokenizer.PAD_ID, SentencePieceTokenizer.EOS_ID, SentencePieceTokenizer.UNK_ID, SentencePieceTokenizer.ID_OFFSET)
            if (listOf(tokenizer.bosId, tokenizer.padId, tokenizer.eosId, tokenizer.unkId, tokenizer.idOffset) != expectedIds) {
                throw CoreException("tokenizer ids (bos, pad, eos, unk, offset) differ from fairseq's $expectedIds")
            }
            val ans = m.getJSONObject("answers")
            val count = positive(ans.getInt("count"), "answers.count")
            val unanswerable = if (ans.isNull("unanswerable_index")) null else ans.getInt("unanswerable_index")
            if (unanswerable != null && unanswerable !in 0 until count) {
                throw CoreException("answers.unanswerable_index $unanswerable is outside 0..${count - 1}")
            }
            val post = m.getJSONObject("postprocessing")
            if (post.getString("answer") != "argmax") throw CoreException("postprocessing.answer '${post.getString("answer")}' is not argmax")
            val answerable = post.getString("answerable")
            if (answerable != "none" && unanswerable == null) {
                throw CoreException("postprocessing.answerable needs answers.unanswerable_index, which is null")
            }
            val source = m.getJSONObject("source")
            val config = source.getJSONObject("config").optString("name", "").ifEmpty { null }
            return Manifest(
                dir = dir,
                json = m,
                format = format,
                precision = m.getString("precision"),
                quantizationScheme = m.getJSONObject("quantization").getString("scheme"),
                modelFile = m.getString("model_file").also { if (it.isEmpty()) throw CoreException("model_file is empty") },
                files = files,
                inputs = tensors(m.getJSONArray("inputs"), "inputs").also { if (it.size != 3) throw CoreException("inputs has ${it.size} tensors, expected 3 (image, question, padding_mask)") },
                outputs = tensors(m.getJSONArray("outputs"), "outputs").also { if (it.isEmpty()) throw CoreException("outputs is empty") },
                preprocessing = preprocessing,
                tokenizer = tokenizer,
                answers = AnswersSpec(ans.getString("file"), count, unanswerable),
                answerableRule = answerable,
                sourceSha256 = source.getString("sha256"),
                sourceConfig = config,
                parityStatus = m.getJSONObject("parity").getString("status"),
                runtime = m.optJSONObject("runtime") ?: JSONObject(),
            )
        }

        private fun positive(value: Int, key: String): Int {
            if (value < 1) throw CoreException("$key must be at least 1, got $value")
            return value
        }

        private fun floats(array: JSONArray, key: String): FloatArray {
            if (array.length() != 3) throw CoreException("$key has ${array.length()} values, expected 3")
            return FloatArray(3) { array.getDouble(it).toFloat() }
        }

        private fun tensors(array: JSONArray, key: String): List<TensorSpec> = (0 until array.length()).map { i ->
            val t = array.getJSONObject(i)
            val shape = t.getJSONArray("shape")
            TensorSpec(t.getString("name"), (0 until shape.length()).map { shape.get(it) }, t.getString("dtype"))
        }.also { if (it.map(TensorSpec::name).toSet().size != it.size) throw CoreException("$key has duplicate names") }

        /** Hex sha256 of a file, read in blocks (a model is never held in memory whole). */
        fun sha256(file: File): String {
            val digest = MessageDigest.getInstance("SHA-256")
            file.inputStream().use { input ->
                val buffer = ByteArray(1 shl 20)
                while (true) {
                    val n = input.read(buffer)
                    if (n < 0) break
                    digest.update(buffer, 0, n)
                }
            }
            return digest.digest().joinToString("") { "%02x".format(it) }
        }
    }

    /** Every file name the manifest holds, by the entry that holds it. */
    private fun namedFiles(): Map<String, String> = linkedMapOf(
        "model_file" to modelFile,
        "tokenizer.file" to tokenizer.file,
        "answers.file" to answers.file,
    ) + (ortFile?.let { mapOf("runtime.ort_file" to it) } ?: emptyMap()) + files.keys.associateBy { "files['$it']" }

    /** A manifest cannot make the app open a file outside its folder (`..`, absolute, a link out). */
    private fun checkContained(path: File) {
        val root = dir.canonicalFile
        for ((key, name) in namedFiles()) {
            val parts = name.split('/')
            if (name.isEmpty() || name.startsWith("/") || '\\' in name || ".." in parts || File(name).isAbsolute) {
                throw CoreException("$path: $key: '$name' is not a path inside the bundle folder")
            }
            val target = File(dir, name).canonicalFile
            if (target != root && !target.path.startsWith(root.path + File.separator)) {
                throw CoreException("$path: $key: '$name' leads outside the bundle folder (to $target)")
            }
        }
    }

    private fun checkListed(path: File) {
        for (required in listOfNotNull(modelFile, tokenizer.file, answers.file, ortFile)) {
            if (required !in files && files.keys.none { it.startsWith("$required/") }) {
                throw CoreException("$path: $required is not listed under 'files'")
            }
        }
        if (files[tokenizer.file]?.sha256?.let { it != tokenizer.sha256 } == true) {
            throw CoreException("$path: tokenizer.sha256 differs from files.${tokenizer.file}.sha256")
        }
    }

    private fun verifyFiles() {
        for ((name, expected) in files) {
            val file = File(dir, name)
            if (!file.isFile) throw CoreException("$dir: $name is listed in the manifest but missing")
            val size = file.length()
            if (size != expected.bytes) {
                throw CoreException("$file: does not match the manifest (size $size vs ${expected.bytes})")
            }
            val sha = sha256(file)
            if (sha != expected.sha256) {
                throw CoreException("$file: does not match the manifest (sha256 ${sha.take(12)} vs ${expected.sha256.take(12)})")
            }
        }
    }
}
