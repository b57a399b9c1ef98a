package org.vizwiz.vqa.core

/**
 * BEiT-3's question tokenizer: a SentencePiece unigram model read from the bundle's model file,
 * with fairseq's (XLM-R's) ids, as `vqa/tokenizer.py` encodes.
 *
 * Encoding follows sentencepiece: normalize (charsmap, whitespace), then the best segmentation
 * of the unigram lattice (unigram_model.cc's EncodeOptimized, float scores, the first best path
 * kept on ties; a character no piece covers is an unknown node scored min_score - 10), then runs
 * of unknown pieces merged into one. Byte fallback is not supported (BEiT-3's model has none).
 */
class SentencePieceTokenizer(modelBytes: ByteArray, source: String = "tokenizer model") {
    /** Model inputs: ids and padding mask (1 on pads), both maxLen long. */
    data class Encoding(val ids: IntArray, val paddingMask: IntArray)

    private val model = SentencePieceModel.parse(modelBytes, source)
    private val pieceIds = HashMap<String, Int>()
    private val maxPieceBytes: Int
    private val scores: FloatArray
    private val userDefined: BooleanArray
    private val unused: BooleanArray
    private val unkId: Int
    private val minScore: Float
    private val maxScore: Float
    private val normalizer: Normalizer

    /** Rows the text embedding needs: every piece id + 1, and id 0 (bos). */
    val vocabSize: Int get() = model.pieces.size + ID_OFFSET

    init {
        if (model.modelType != SentencePieceModel.UNIGRAM) {
            throw CoreException("$source: SentencePiece model type ${model.modelType} is not unigram (1)")
        }
        if (model.byteFallback) throw CoreException("$source: byte fallback models are not supported")
        val pieces = model.pieces
        val layoutOk = pieces.size > 2 &&
            pieces[0].type == SentencePieceModel.Type.UNKNOWN &&
            pieces[1].piece == "<s>" && pieces[1].type == SentencePieceModel.Type.CONTROL &&
            pieces[2].piece == "</s>" && pieces[2].type == SentencePieceModel.Type.CONTROL &&
            pieces.none { it.piece == "<pad>" && it.type == SentencePieceModel.Type.CONTROL }
        if (!layoutOk) {
            throw CoreException(
                "$source: SentencePiece special ids differ from unk 0, bos 1, eos 2, no pad, " +
                    "which the fairseq id mapping of BEiT-3 needs",
            )
        }
        scores = FloatArray(pieces.size) { pieces[it].score }
        userDefined = BooleanArray(pieces.size) { pieces[it].type == SentencePieceModel.Type.USER_DEFINED }
        unused = BooleanArray(pieces.size) { pieces[it].type == SentencePieceModel.Type.UNUSED }
        var maxBytes = 0
        var lo = Float.MAX_VALUE
        var hi = java.lang.Float.MIN_NORMAL // sentencepiece starts from FLT_MIN
        val userSymbols = ArrayList<String>()
        pieces.forEachIndexed { id, p ->
            if (p.piece.isEmpty()) throw CoreException("$source: piece $id is empty")
            when (p.type) {
                SentencePieceModel.Type.NORMAL, SentencePieceModel.Type.USER_DEFINED, SentencePieceModel.Type.UNUSED -> {
                    if (pieceIds.put(p.piece, id) != null) throw CoreException("$source: piece '${p.piece}' is defined twice")
                    maxBytes = maxOf(maxBytes, p.piece.toByteArray(Charsets.UTF_8).size)
                }
                else -> Unit
            }
            if (p.type == SentencePieceModel.Type.NORMAL) {
                lo = minOf(lo, p.score)
                hi = maxOf(hi, p.score)
            }
            if (p.type == SentencePieceModel.Type.USER_DEFINED) userSymbols += p.piece
        }
        maxPieceBytes = maxBytes
        minScore = lo
        maxScore = hi
        unkId = 0
        normalizer = Normalizer(model.normalizer, userSymbols, model.treatWhitespaceAsSuffix)
    }

    /** The text after normalization, as the lattice sees it ("▁" for spaces). */
    fun normalize(text: String): String = String(normalizer.normalize(text), Charsets.UTF_8)

    /** SentencePiece piece ids of a text (unknown runs merged), no specials. */
    fun pieceIds(text: String): IntArray {
        val normalized = normalizer.normalize(text)
        val size = normalized.size
        if (size == 0) return IntArray(0)
        val bestScore = FloatArray(size + 1)
        val startsAt = IntArray(size + 1) { -1 }
        val bestId = IntArray(size + 1) { -1 }
        val unkScore = minScore - UNK_PENALTY
        var start = 0
        while (start < size) {
            val tillHere = bestScore[start]
            val charLength = minOf(Normalizer.oneCharLength(normalized, start), size - start)
            var hasSingleNode = false
            var end = start
            val limit = minOf(size, start + maxPieceBytes)
            while (end < limit) {
                end += minOf(Normalizer.oneCharLength(normalized, end), size - end)
                if (end > limit) break
                val id = pieceIds[String(normalized, start, end - start, Charsets.UTF_8)] ?: continue
                if (unused[id]) continue
                val length = end - start
                val better: Boolean
                val candidate: Float
                if (userDefined[id]) {
                    val exact = length * maxScore.toDouble() - 0.1 + tillHere
                    better = startsAt[end] == -1 || exact > bestScore[end]
                    candidate = exact.toFloat()
                } else {
                    candidate = scores[id] + tillHere
                    better = startsAt[end] == -1 || candidate > bestScore[end]
                }
                if (better) {
                    bestScore[end] = candidate
                    startsAt[end] = start
                    bestId[end] = id
                }
                if (length == charLength) hasSingleNode = true
            }
            if (!hasSingleNode) {
                val target = start + charLength
                val candidate = unkScore + tillHere
                if (startsAt[target] == -1 || candidate > bestScore[target]) {
                    bestScore[target] = candidate
                    startsAt[target] = start
                    bestId[target] = unkId
                }
            }
            start += charLength
        }
        val reversed = ArrayList<Int>()
        var end = size
        while (end > 0) {
            reversed += bestId[end]
            end = startsAt[end]
        }
        val ids = ArrayList<Int>(reversed.size)
        for (i in reversed.indices.reversed()) {
            val id = reversed[i]
            if (id == unkId && ids.isNotEmpty() && ids.last() == unkId) continue // merged unknown run
            ids += id
        }
        return ids.toIntArray()
    }

    /** fairseq ids of a text's pieces, without bos/eos, truncation or padding. */
    fun tokenIds(text: String): IntArray = pieceIds(text).map { if (it == unkId) UNK_ID else it + ID_OFFSET }.toIntArray()

    /** [bos] + pieces[: maxLen - 2] + [eos], padded with pad; mask 1 on pads. */
    fun encode(text: String, maxLen: Int): Encoding {
        if (maxLen < 3) throw CoreException("max length must be at least 3 (bos, one token, eos), got $maxLen")
        val pieces = tokenIds(text)
        if (pieces.isEmpty()) throw CoreException("question is empty after tokenization: ${quote(text)}")
        val kept = minOf(pieces.size, maxLen - 2)
        val ids = IntArray(maxLen) { PAD_ID }
        val mask = IntArray(maxLen) { 1 }
        ids[0] = BOS_ID
        for (i in 0 until kept) ids[i + 1] = pieces[i]
        ids[kept + 1] = EOS_ID
        for (i in 0..kept + 1) mask[i] = 0
        return Encoding(ids, mask)
    }

    companion object {
        const val BOS_ID = 0
        const val PAD_ID = 1
        const val EOS_ID = 2
        const val UNK_ID = 3
        const val ID_OFFSET = 1
        private const val UNK_PENALTY = 10.0f

        private fun quote(text: String): String =
            "'" + text.map { if (it.code < 0x20) "\\u%04x".format(it.code) else it.toString() }.joinToString("") + "'"
    }
}
