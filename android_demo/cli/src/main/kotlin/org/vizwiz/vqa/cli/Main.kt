package org.vizwiz.vqa.cli

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import org.vizwiz.vqa.core.AnswerDecoder
import org.vizwiz.vqa.core.CoreException
import org.vizwiz.vqa.core.ImageQuality
import org.vizwiz.vqa.core.Manifest
import org.vizwiz.vqa.core.Preprocessor
import org.vizwiz.vqa.core.ResultRow
import org.vizwiz.vqa.core.SampleSet
import org.vizwiz.vqa.core.SentencePieceTokenizer
import java.io.File
import java.io.PrintStream
import kotlin.system.exitProcess

private const val USAGE = """usage: java -jar vqa-core.jar VERB ...
  tokenize --spm FILE [--max-len 64]          questions on stdin (one a line) -> {"ids", "padding_mask"} a line
  preprocess --manifest FILE IMAGE...          -> {"image", "shape", "values"} a line (PNG/JPEG/BMP/GIF)
  quality IMAGE...                             -> {"image", "verdict", "mean_luma", ...} a line
  answer --manifest FILE                       logits (JSON array) on stdin -> answer, index, top5, answerable
  row --manifest FILE --bundle-path P --out F  measurement (JSON object) on stdin -> result row file (atomic)
  predictions --manifest FILE --samples DIR --out F
                                               {"key", "logits"} a line on stdin -> predictions file (atomic)"""

private const val VERBS = "tokenize, preprocess, quality, answer, row, predictions"

/**
 * The core's command line: the cross-language tests drive it, and it helps anyone porting a
 * bundle to another app. Bad input: one line on stderr, exit code 2, no stack trace.
 */
fun main(args: Array<String>) {
    val out = PrintStream(System.out, false, "UTF-8")
    val code = try {
        run(args.toList(), out)
    } catch (err: CoreException) {
        System.err.println("error: ${err.message}")
        2
    } catch (err: JSONException) {
        System.err.println("error: bad JSON input (${err.message})")
        2
    } catch (err: java.io.IOException) {
        System.err.println("error: ${err.message}")
        2
    }
    out.flush()
    exitProcess(code)
}

private class Options(args: List<String>, valued: Set<String>) {
    val values = HashMap<String, String>()
    val positional = ArrayList<String>()

    init {
        var i = 0
        while (i < args.size) {
            val arg = args[i]
            if (arg.startsWith("--")) {
                if (arg !in valued) throw CoreException("unknown option $arg")
                if (i + 1 >= args.size) throw CoreException("$arg needs a value")
                values[arg] = args[i + 1]
                i += 2
            } else {
                positional += arg
                i++
            }
        }
    }

    fun required(name: String): String = values[name] ?: throw CoreException("$name is required")

    fun int(name: String, default: Int): Int {
        val text = values[name] ?: return default
        return text.toIntOrNull() ?: throw CoreException("$name must be an integer, got '$text'")
    }
}

internal fun run(args: List<String>, out: PrintStream): Int {
    val verb = args.firstOrNull() ?: throw CoreException("no verb given; one of $VERBS (--help lists them)")
    val rest = args.drop(1)
    when (verb) {
        "tokenize" -> tokenize(Options(rest, setOf("--spm", "--max-len")), out)
        "preprocess" -> preprocess(Options(rest, setOf("--manifest")), out)
        "quality" -> quality(Options(rest, emptySet()), out)
        "answer" -> answer(Options(rest, setOf("--manifest")), out)
        "row" -> row(Options(rest, setOf("--manifest", "--bundle-path", "--out", "--source")))
        "predictions" -> predictions(Options(rest, setOf("--manifest", "--samples", "--out")))
        "-h", "--help", "help" -> out.println(USAGE)
        else -> throw CoreException("unknown verb '$verb'; one of $VERBS (--help lists them)")
    }
    return 0
}

private fun manifestOf(options: Options): Manifest {
    val path = File(options.required("--manifest"))
    val dir = if (path.isDirectory) path else (path.absoluteFile.parentFile ?: File("."))
    if (!path.isDirectory && path.name != Manifest.NAME) throw CoreException("--manifest $path: expected a ${Manifest.NAME} or a bundle folder")
    return Manifest.read(dir)
}

private fun tokenize(options: Options, out: PrintStream) {
    if (options.positional.isNotEmpty()) throw CoreException("tokenize takes no file arguments (questions come on stdin)")
    val spm = File(options.required("--spm"))
    val maxLen = options.int("--max-len", 64)
    if (maxLen < 3) throw CoreException("--max-len must be at least 3, got $maxLen")
    val bytes = try {
        spm.readBytes()
    } catch (err: java.io.IOException) {
        throw CoreException("--spm $spm: cannot read (${err.message})")
    }
    val tokenizer = SentencePieceTokenizer(bytes, spm.path)
    var line = 0
    System.`in`.bufferedReader(Charsets.UTF_8).forEachLine { question ->
        line++
        val encoding = try {
            tokenizer.encode(question, maxLen)
        } catch (err: CoreException) {
            throw CoreException("stdin line $line: ${err.message}")
        }
        out.println(JSONObject().put("ids", JSONArray(encoding.ids.toList())).put("padding_mask", JSONArray(encoding.paddingMask.toList())))
    }
}

private fun preprocess(options: Options, out: PrintStream) {
    val manifest = manifestOf(options)
    if (options.positional.isEmpty()) throw CoreException("preprocess needs at least one IMAGE")
    val preprocessor = Preprocessor(manifest.preprocessing)
    val size = manifest.preprocessing.imageSize
    for (name in options.positional) {
        val file = File(name)
        if (!file.isFile) throw CoreException("$file: no such image file")
        val image = ImageFiles.read(file)
        val values = preprocessor.processPlanes(image.planes, image.width, image.height)
        val array = JSONArray()
        for (v in values) array.put(v.toDouble())
        out.println(JSONObject().put("image", name).put("shape", JSONArray(listOf(1, 3, size, size))).put("values", array))
    }
}

/** The image-quality verdict (vqa.quality's) of each image file. */
private fun quality(options: Options, out: PrintStream) {
    if (options.positional.isEmpty()) throw CoreException("quality needs at least one IMAGE")
    for (name in options.positional) {
        val file = File(name)
        if (!file.isFile) throw CoreException("$file: no such image file")
        val image = ImageFiles.read(file)
        val report = ImageQuality.assess(image.planes, image.width, image.height)
        out.println(
            JSONObject().put("image", name).put("verdict", report.verdict.key).put("mean_luma", report.meanLuma)
                .put("bright_fraction", report.brightFraction).put("laplacian_var", report.laplacianVar ?: JSONObject.NULL)
                .put("analysis_width", report.width).put("analysis_height", report.height),
        )
    }
}

private fun answer(options: Options, out: PrintStream) {
    val manifest = manifestOf(options)
    val text = System.`in`.bufferedReader(Charsets.UTF_8).readText()
    val logits = try {
        val array = JSONArray(text.trim())
        FloatArray(array.length()) { array.getDouble(it).toFloat() }
    } catch (err: JSONException) {
        throw CoreException("stdin: expected a JSON array of logits (${err.message})")
    }
    out.println(decodedJson(AnswerDecoder.of(manifest).decode(logits)))
}

internal fun decodedJson(decoded: AnswerDecoder.Decoded): JSONObject {
    val top = JSONArray()
    for (s in decoded.top) top.put(JSONObject().put("index", s.index).put("answer", s.answer).put("score", s.score.toDouble()))
    return JSONObject().put("answer", decoded.answer).put("index", decoded.index).put("top5", top)
        .put("answerable", decoded.answerable ?: JSONObject.NULL)
}

/** A result row from a measurement given as JSON (the fields a benchmark mode measures). */
private fun row(options: Options) {
    val manifest = manifestOf(options)
    val m = JSONObject(System.`in`.bufferedReader(Charsets.UTF_8).readText())
    val runtime = m.getJSONObject("runtime")
    val details = runtime.optJSONObject("details") ?: JSONObject()
    val device = m.getJSONObject("device")
    val samples = m.getJSONArray("samples_ms")
    val result = ResultRow.forBundle(
        manifest = manifest,
        bundlePath = options.required("--bundle-path"),
        runtime = ResultRow.Runtime(runtime.getString("name"), optionalString(runtime, "version"), details.keys().asSequence().associateWith { details.get(it) }),
        device = ResultRow.Device(
            device.getString("name"), device.getString("os"), optionalString(device, "arch"),
            if (device.isNull("cpu_count")) null else device.getInt("cpu_count"),
            optionalString(device, "thermal_start"), optionalString(device, "thermal_end"),
        ),
        threads = if (m.isNull("threads")) null else m.getInt("threads"),
        latency = ResultRow.Latency(
            loadMs = m.getDouble("load_ms"),
            firstInferenceMs = m.getDouble("first_inference_ms"),
            warmup = m.getInt("warmup"),
            samplesMs = DoubleArray(samples.length()) { samples.getDouble(it) },
        ),
        memory = ResultRow.Memory(m.getLong("peak_rss_bytes"), m.getLong("load_rss_bytes"), null, null),
        notes = m.optJSONArray("notes")?.let { n -> (0 until n.length()).map { n.getString(it) } } ?: emptyList(),
        source = options.values["--source"] ?: "android-app",
    )
    ResultRow.writeAll(listOf(result), File(options.required("--out")))
}

/** A string field that may be absent or JSON null (org.json's optString turns null into "null"). */
private fun optionalString(obj: JSONObject, key: String): String? = if (obj.isNull(key)) null else obj.getString(key)

private fun predictions(options: Options) {
    val manifest = manifestOf(options)
    val samples = SampleSet.read(File(options.required("--samples")))
    val byKey = samples.samples.associateBy { it.key }
    val decoder = AnswerDecoder.of(manifest)
    val predictions = ArrayList<SampleSet.Prediction>()
    var line = 0
    System.`in`.bufferedReader(Charsets.UTF_8).forEachLine { text ->
        line++
        if (text.isBlank()) return@forEachLine
        val entry = JSONObject(text)
        val key = entry.getString("key")
        val sample = byKey[key] ?: throw CoreException("stdin line $line: key '$key' is not in ${samples.dir}/${SampleSet.NAME}")
        val array = entry.getJSONArray("logits")
        val logits = FloatArray(array.length()) { array.getDouble(it).toFloat() }
        predictions += SampleSet.Prediction(key, sample.question, decoder.decode(logits))
    }
    SampleSet.writePredictions(predictions, File(options.required("--out")))
}
