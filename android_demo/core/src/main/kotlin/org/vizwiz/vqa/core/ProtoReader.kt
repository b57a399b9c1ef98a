package org.vizwiz.vqa.core

/**
 * Reads protobuf wire format by hand: the SentencePiece model is the only protobuf the app
 * reads, and its few fields do not justify a code generator or a protobuf runtime.
 */
internal class ProtoReader(private val data: ByteArray, private var pos: Int = 0, private val end: Int = data.size) {
    fun atEnd(): Boolean = pos >= end

    /** The next field's (number, wire type). */
    fun tag(): Pair<Int, Int> {
        val key = varint()
        val field = (key ushr 3).toInt()
        if (field == 0) throw CoreException("protobuf: field number 0 at byte $pos")
        return field to (key and 7L).toInt()
    }

    fun varint(): Long {
        var result = 0L
        var shift = 0
        while (true) {
            if (pos >= end) throw CoreException("protobuf: truncated varint at byte $pos")
            val b = data[pos++].toInt() and 0xff
            result = result or ((b and 0x7f).toLong() shl shift)
            if (b and 0x80 == 0) return result
            shift += 7
            if (shift > 63) throw CoreException("protobuf: varint longer than 10 bytes at byte $pos")
        }
    }

    fun fixed32(): Int {
        if (end - pos < 4) throw CoreException("protobuf: truncated fixed32 at byte $pos")
        val v = (data[pos].toInt() and 0xff) or ((data[pos + 1].toInt() and 0xff) shl 8) or
            ((data[pos + 2].toInt() and 0xff) shl 16) or ((data[pos + 3].toInt() and 0xff) shl 24)
        pos += 4
        return v
    }

    fun float(): Float = Float.fromBits(fixed32())

    /** A length-delimited field as a sub-reader over the same bytes. */
    fun message(): ProtoReader {
        val (start, length) = lengthDelimited()
        return ProtoReader(data, start, start + length)
    }

    fun bytes(): ByteArray {
        val (start, length) = lengthDelimited()
        return data.copyOfRange(start, start + length)
    }

    fun string(): String = String(bytes(), Charsets.UTF_8)

    private fun lengthDelimited(): Pair<Int, Int> {
        val length = varint()
        if (length < 0 || length > end - pos) throw CoreException("protobuf: length $length past the end at byte $pos")
        val start = pos
        pos += length.toInt()
        return start to length.toInt()
    }

    fun skip(wireType: Int) {
        when (wireType) {
            0 -> varint()
            1 -> advance(8)
            2 -> lengthDelimited()
            5 -> advance(4)
            else -> throw CoreException("protobuf: unsupported wire type $wireType at byte $pos")
        }
    }

    private fun advance(n: Int) {
        if (end - pos < n) throw CoreException("protobuf: truncated field at byte $pos")
        pos += n
    }
}
