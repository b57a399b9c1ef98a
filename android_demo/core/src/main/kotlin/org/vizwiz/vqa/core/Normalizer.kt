package org.vizwiz.vqa.core

/**
 * SentencePiece's text normalizer (normalizer.cc), on UTF-8 bytes as the original works.
 *
 * The precompiled charsmap (e.g. nmt_nfkc) is `<uint32 LE trie size><Darts double array><NUL
 * separated replacement strings>`: at each position the longest key of the double array that is
 * a prefix of the input (among the first 32 matches) is replaced by the string its value points
 * at. Then the whitespace rules: leading, trailing and repeated spaces removed, a dummy "▁"
 * prefix, spaces escaped as "▁" (U+2581).
 */
internal class Normalizer(spec: SentencePieceModel.NormalizerSpec, userDefined: Collection<String>, private val treatWhitespaceAsSuffix: Boolean) {
    private val addDummyPrefix = spec.addDummyPrefix
    private val removeExtraWhitespaces = spec.removeExtraWhitespaces
    private val escapeWhitespaces = spec.escapeWhitespaces
    private val trie: IntArray?
    private val replacements: ByteArray
    private val userDefined: Set<ByteKey> = userDefined.map { ByteKey(it.toByteArray(Charsets.UTF_8)) }.toSet()
    private val userDefinedMaxBytes = this.userDefined.maxOfOrNull { it.bytes.size } ?: 0

    init {
        val blob = spec.precompiledCharsmap
        if (blob.isEmpty()) {
            trie = null
            replacements = ByteArray(0)
        } else {
            if (blob.size <= 4) throw CoreException("normalizer: precompiled charsmap is broken (${blob.size} bytes)")
            val trieBytes = readUInt32(blob, 0)
            if (trieBytes >= blob.size.toLong() || trieBytes % 4 != 0L) {
                throw CoreException("normalizer: charsmap trie size $trieBytes does not fit the ${blob.size}-byte blob")
            }
            val units = (trieBytes / 4).toInt()
            trie = IntArray(units) { readUInt32(blob, 4 + 4 * it).toInt() }
            replacements = blob.copyOfRange(4 + trieBytes.toInt(), blob.size)
        }
    }

    fun normalize(text: String): ByteArray = normalize(text.toByteArray(Charsets.UTF_8))

    fun normalize(input: ByteArray): ByteArray {
        if (input.isEmpty()) return input
        val out = Bytes()
        var pos = 0
        if (removeExtraWhitespaces) {
            while (pos < input.size) {
                val (piece, consumed) = normalizePrefix(input, pos)
                if (!(piece.size == 1 && piece[0] == SPACE)) break
                pos += consumed
            }
        }
        if (pos >= input.size) return ByteArray(0)
        if (!treatWhitespaceAsSuffix && addDummyPrefix) addSpace(out)
        var isPrevSpace = removeExtraWhitespaces
        while (pos < input.size) {
            val (piece, consumed) = normalizePrefix(input, pos)
            var start = 0
            while (isPrevSpace && start < piece.size && piece[start] == SPACE) start++
            if (start < piece.size) {
                for (i in start until piece.size) {
                    if (escapeWhitespaces && piece[i] == SPACE) out.append(META) else out.append(piece[i])
                }
                isPrevSpace = piece[piece.size - 1] == SPACE
            }
            pos += consumed
            if (!removeExtraWhitespaces) isPrevSpace = false
        }
        if (removeExtraWhitespaces) {
            val space = if (escapeWhitespaces) META else byteArrayOf(SPACE)
            while (out.endsWith(space)) out.truncate(out.size - space.size)
        }
        if (treatWhitespaceAsSuffix && addDummyPrefix) addSpace(out)
        return out.toByteArray()
    }

    private fun addSpace(out: Bytes) {
        if (escapeWhitespaces) out.append(META) else out.append(SPACE)
    }

    /** The replacement of the longest rule at `pos` and how many input bytes it consumes. */
    private fun normalizePrefix(input: ByteArray, pos: Int): Pair<ByteArray, Int> {
        if (userDefinedMaxBytes > 0) {
            var longest = 0
            for (length in 1..minOf(userDefinedMaxBytes, input.size - pos)) {
                if (ByteKey(input.copyOfRange(pos, pos + length)) in userDefined) longest = length
            }
            if (longest > 0) return input.copyOfRange(pos, pos + longest) to longest
        }
        var longestLength = 0
        var longestValue = 0
        if (trie != null) {
            commonPrefixSearch(input, pos) { value, length ->
                if (longestLength == 0 || length > longestLength) {
                    longestLength = length
                    longestValue = value
                }
            }
        }
        if (longestLength > 0) {
            var end = longestValue
            while (end < replacements.size && replacements[end] != 0.toByte()) end++
            return replacements.copyOfRange(longestValue, end) to longestLength
        }
        val length = validUtf8Length(input, pos)
        return if (length == 0) REPLACEMENT_CHARACTER to 1 else input.copyOfRange(pos, pos + length) to length
    }

    /** Darts-clone's commonPrefixSearch: every key that is a prefix of input[pos..], shortest first. */
    private inline fun commonPrefixSearch(input: ByteArray, pos: Int, found: (value: Int, length: Int) -> Unit) {
        val units = trie!!
        var results = 0
        var nodePos = offset(units[0])
        for (i in pos until input.size) {
            val label = input[i].toInt() and 0xff
            nodePos = nodePos xor label
            if (nodePos !in units.indices) return
            val unit = units[nodePos]
            if (labelOf(unit) != label) return
            nodePos = nodePos xor offset(unit)
            if (hasLeaf(unit)) {
                if (results < MAX_TRIE_RESULTS) found(units[nodePos] and 0x7fffffff, i - pos + 1)
                results++
            }
        }
    }

    private class Bytes {
        private var buffer = ByteArray(64)
        var size = 0
            private set

        fun append(b: Byte) {
            if (size == buffer.size) buffer = buffer.copyOf(size * 2)
            buffer[size++] = b
        }

        fun append(bytes: ByteArray) = bytes.forEach { append(it) }

        fun endsWith(suffix: ByteArray): Boolean =
            size >= suffix.size && suffix.indices.all { buffer[size - suffix.size + it] == suffix[it] }

        fun truncate(n: Int) {
            size = n
        }

        fun toByteArray(): ByteArray = buffer.copyOf(size)
    }

    private data class ByteKey(val bytes: ByteArray) {
        override fun equals(other: Any?): Boolean = other is ByteKey && bytes.contentEquals(other.bytes)
        override fun hashCode(): Int = bytes.contentHashCode()
    }

    companion object {
        private const val SPACE = ' '.code.toByte()
        private const val MAX_TRIE_RESULTS = 32
        val META: ByteArray = "\u2581".toByteArray(Charsets.UTF_8)
        private val REPLACEMENT_CHARACTER = "\uFFFD".toByteArray(Charsets.UTF_8)

        private fun readUInt32(b: ByteArray, at: Int): Long =
            ((b[at].toLong() and 0xff) or ((b[at + 1].toLong() and 0xff) shl 8) or
                ((b[at + 2].toLong() and 0xff) shl 16) or ((b[at + 3].toLong() and 0xff) shl 24))

        private fun hasLeaf(unit: Int): Boolean = (unit ushr 8) and 1 == 1
        private fun labelOf(unit: Int): Int = unit and (0x80000000.toInt() or 0xff)
        private fun offset(unit: Int): Int = (unit ushr 10) shl ((unit and (1 shl 9)) ushr 6)

        /** Bytes of the UTF-8 character at pos, or 0 when it is malformed (sentencepiece's IsValidDecodeUTF8). */
        fun validUtf8Length(b: ByteArray, pos: Int): Int {
            val c = b[pos].toInt() and 0xff
            val (length, min) = when {
                c < 0x80 -> return 1
                c in 0xc2..0xdf -> 2 to 0x80
                c in 0xe0..0xef -> 3 to 0x800
                c in 0xf0..0xf4 -> 4 to 0x10000
                else -> return 0
            }
            if (pos + length > b.size) return 0
            var code = c and (0xff ushr (length + 1))
            for (i in 1 until length) {
                val cc = b[pos + i].toInt() and 0xff
                if (cc and 0xc0 != 0x80) return 0
                code = (code shl 6) or (cc and 0x3f)
            }
            if (code < min || code > 0x10ffff || code in 0xd800..0xdfff) return 0
            return length
        }

        /** Length of the character at pos as sentencepiece's OneCharLen counts it (from the lead byte). */
        fun oneCharLength(b: ByteArray, pos: Int): Int {
            val c = b[pos].toInt() and 0xff
            return when (c ushr 4) {
                in 0..11 -> 1
                12, 13 -> 2
                14 -> 3
                else -> 4
            }
        }
    }
}
