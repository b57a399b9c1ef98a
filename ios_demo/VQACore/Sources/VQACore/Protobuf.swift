import Foundation

/// A protobuf wire-format reader: just enough to read SentencePiece's ModelProto by hand
/// (varints, 32/64-bit fixed fields, length-delimited fields), with no generated code.
struct ProtobufReader {
    enum WireType: Int {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    enum Field {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    var isAtEnd: Bool { return position >= bytes.endIndex }

    /// The next (field number, value), or nil at the end of the message.
    mutating func next() throws -> (number: Int, value: Field)? {
        if isAtEnd { return nil }
        let key = try readVarint()
        let number = Int(key >> 3)
        guard number > 0, let wire = WireType(rawValue: Int(key & 7)) else {
            throw TokenizerError.malformedModel("unsupported protobuf field key \(key)")
        }
        switch wire {
        case .varint:
            return (number, .varint(try readVarint()))
        case .fixed64:
            return (number, .fixed64(try readFixed(byteCount: 8)))
        case .fixed32:
            return (number, .fixed32(UInt32(truncatingIfNeeded: try readFixed(byteCount: 4))))
        case .lengthDelimited:
            let length = try readVarint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw TokenizerError.malformedModel("field \(number) runs past the end")
            }
            let end = position + Int(length)
            let slice = bytes[position..<end]
            position = end
            return (number, .bytes(slice))
        }
    }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.endIndex, shift < 64 else {
                throw TokenizerError.malformedModel("truncated varint")
            }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func readFixed(byteCount: Int) throws -> UInt64 {
        guard bytes.endIndex - position >= byteCount else {
            throw TokenizerError.malformedModel("truncated fixed-width field")
        }
        var result: UInt64 = 0
        for i in 0..<byteCount {
            result |= UInt64(bytes[position + i]) << UInt64(8 * i)
        }
        position += byteCount
        return result
    }
}

extension ProtobufReader.Field {
    var bool: Bool? {
        if case .varint(let value) = self { return value != 0 }
        return nil
    }

    var int: Int? {
        if case .varint(let value) = self { return Int(truncatingIfNeeded: value) }
        return nil
    }

    var float: Float? {
        if case .fixed32(let bits) = self { return Float(bitPattern: bits) }
        return nil
    }

    var data: ArraySlice<UInt8>? {
        if case .bytes(let slice) = self { return slice }
        return nil
    }

    var string: String? {
        guard let slice = data else { return nil }
        return String(decoding: slice, as: UTF8.self)
    }
}
