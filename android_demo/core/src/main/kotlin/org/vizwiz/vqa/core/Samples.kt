package org.vizwiz.vqa.core

import org.json.JSONException
import org.json.JSONObject
import java.io.File

/**
 * The accuracy mode's input and output: a samples folder that the host wrote with
 * `python -m benchmark samples` (benchmark/samples.py) and pushed: `samples.json` =
 * `{"format": "vqa-samples", "version": 1, "data", "split", "n", "samples": [{"key", "image",
 * "question"}]}` with the images beside it; and the predictions file the app writes (a JSON
 * list of `{"image": key, "question", "answer", "index", "answerable"?}`, the format
 * `python -m benchmark score|ingest` reads).
 */
class SampleSet private constructor(val dir: File, val data: String, val split: String, val samples: List<Sample>) {
    data class Sample(val key: String, val image: File, val question: String)

    data class Prediction(val key: String, val question: String, val decoded: AnswerDecoder.Decoded)

    companion object {
        const val NAME = "samples.json"
        const val FORMAT = "vqa-samples"
        const val VERSION = 1

        fun read(dir: File): SampleSet {
            val path = File(dir, NAME)
            if (!path.isFile) throw CoreException("$dir: no $NAME")
            try {
                val root = JSONObject(path.readText(Charsets.UTF_8))
                if (root.optString("format") != FORMAT) throw CoreException("not a samples index (format is not '$FORMAT')")
                if (root.optInt("version", -1) != VERSION) throw CoreException("samples version ${root.opt("version")} is not supported (this app reads $VERSION)")
                val list = root.getJSONArray("samples")
                val keys = HashSet<String>()
                val samples = (0 until list.length()).map { i ->
                    val entry = list.getJSONObject(i)
                    val key = entry.getString("key")
                    if (key.isEmpty() || !keys.add(key)) throw CoreException("sample $i: key '$key' is empty or repeated")
                    val image = File(dir, entry.getString("image"))
                    if (!image.isFile) throw CoreException("sample $i ($key): image ${entry.getString("image")} is missing")
                    Sample(key, image, entry.getString("question"))
                }
                if (samples.isEmpty()) throw CoreException("no samples")
                return SampleSet(dir, root.getString("data"), root.getString("split"), samples)
            } catch (err: JSONException) {
                throw CoreException("$path: ${err.message}")
            } catch (err: CoreException) {
                throw CoreException("$path: ${err.message}")
            }
        }

        fun writePredictions(predictions: List<Prediction>, file: File) {
            val array = org.json.JSONArray()
            for (p in predictions) {
                array.put(
                    JSONObject().put("image", p.key).put("question", p.question)
                        .put("answer", p.decoded.answer).put("index", p.decoded.index)
                        .apply { p.decoded.answerable?.let { put("answerable", it) } },
                )
            }
            AtomicFile.writeText(file, array.toString(1) + "\n")
        }
    }
}
