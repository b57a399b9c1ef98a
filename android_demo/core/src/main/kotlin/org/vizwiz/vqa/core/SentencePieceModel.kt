package org.vizwiz.vqa.core

/** The parts of sentencepiece's `ModelProto` (sentencepiece_model.proto) that encoding uses. */
class SentencePieceModel private constructor(
    val pieces: List<Piece>,
    val normalizer: NormalizerSpec,
    val modelType: Int,
    val byteFallback: Boolean,
    val treatWhitespaceAsSuffix: Boolean,
) {
    enum class Type(val code: Int) { NORMAL(1), UNKNOWN(2), CONTROL(3), USER_DEFINED(4), UNUSED(5), BYTE(6) }

    data class Piece(val piece: String, val score: Float, val type: Type)

    /** NormalizerSpec: the precompiled charsmap and the three whitespace switches (proto defaults: true). */
    class NormalizerSpec(
        val name: String,
        val precompiledCharsmap: ByteArray,
        val addDummyPrefix: Boolean,
        val removeExtraWhitespaces: Boolean,
        val escapeWhitespaces: Boolean,
    )

    companion object {
        const val UNIGRAM = 1

        /** Parses a serialized ModelProto; errors name `source`. */
        fun parse(bytes: ByteArray, source: String): SentencePieceModel {
            if (bytes.isEmpty()) throw CoreException("$source: the file is empty, not a SentencePiece model")
            try {
                return read(ProtoReader(bytes))
            } catch (err: CoreException) {
                throw CoreException("$source: not a SentencePiece model (${err.message})")
            }
        }

        private fun read(reader: ProtoReader): SentencePieceModel {
            val pieces = ArrayList<Piece>()
            var normalizer = NormalizerSpec("", ByteArray(0), true, true, true)
            var modelType = UNIGRAM
            var byteFallback = false
            var suffix = false
            while (!reader.atEnd()) {
                val (field, wire) = reader.tag()
                when {
                    field == 1 && wire == 2 -> pieces += readPiece(reader.message())
                    field == 2 && wire == 2 -> {
                        val trainer = reader.message()
                        while (!trainer.atEnd()) {
                            val (f, w) = trainer.tag()
                            when {
                                f == 3 && w == 0 -> modelType = trainer.varint().toInt()
                                f == 35 && w == 0 -> byteFallback = trainer.varint() != 0L
                                f == 24 && w == 0 -> suffix = trainer.varint() != 0L
                                else -> trainer.skip(w)
                            }
                        }
                    }
                    field == 3 && wire == 2 -> normalizer = readNormalizer(reader.message())
                    else -> reader.skip(wire)
                }
            }
            if (pieces.isEmpty()) throw CoreException("no pieces")
            return SentencePieceModel(pieces, normalizer, modelType, byteFallback, suffix)
        }

        private fun readPiece(reader: ProtoReader): Piece {
            var piece = ""
            var score = 0f
            var type = Type.NORMAL
            while (!reader.atEnd()) {
                val (field, wire) = reader.tag()
                when {
                    field == 1 && wire == 2 -> piece = reader.string()
                    field == 2 && wire == 5 -> score = reader.float()
                    field == 3 && wire == 0 -> {
                        val code = reader.varint().toInt()
                        type = Type.entries.firstOrNull { it.code == code }
                            ?: throw CoreException("piece '$piece' has unknown type $code")
                    }
                    else -> reader.skip(wire)
                }
            }
            return Piece(piece, score, type)
        }

        private fun readNormalizer(reader: ProtoReader): NormalizerSpec {
            var name = ""
            var charsmap = ByteArray(0)
            var dummy = true
            var removeExtra = true
            var escape = true
            while (!reader.atEnd()) {
                val (field, wire) = reader.tag()
                when {
                    field == 1 && wire == 2 -> name = reader.string()
                    field == 2 && wire == 2 -> charsmap = reader.bytes()
                    field == 3 && wire == 0 -> dummy = reader.varint() != 0L
                    field == 4 && wire == 0 -> removeExtra = reader.varint() != 0L
                    field == 5 && wire == 0 -> escape = reader.varint() != 0L
                    else -> reader.skip(wire)
                }
            }
            return NormalizerSpec(name, charsmap, dummy, removeExtra, escape)
        }
    }
}
