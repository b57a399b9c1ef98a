import Foundation

/// Why a tokenizer model or a question cannot be used.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    case malformedModel(String)
    case unsupportedModel(String)
    case empty(String)
    case badMaxLength(Int)

    public var description: String {
        switch self {
        case .malformedModel(let why): return "not a SentencePiece model: \(why)"
        case .unsupportedModel(let why): return "unsupported SentencePiece model: \(why)"
        case .empty(let text): return "question is empty after tokenization: \(text.debugDescription)"
        case .badMaxLength(let n): return "max length must be at least 3 (bos, one token, eos), got \(n)"
        }
    }
}

/// SentencePiece's piece types (sentencepiece_model.proto, ModelProto.SentencePiece.Type).
public enum PieceType: Int, Sendable {
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6
}

/// The parts of a serialized SentencePiece `ModelProto` that encoding needs.
struct SentencePieceModel: Sendable {
    var pieces: [[UInt8]] = []
    var scores: [Float] = []
    var types: [PieceType] = []
    var modelType = 1  // UNIGRAM
    var treatWhitespaceAsSuffix = false
    var byteFallback = false
    var normalizerName = ""
    var precompiledCharsmap: [UInt8] = []
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    init(bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { throw TokenizerError.malformedModel("the file is empty") }
        var reader = ProtobufReader(bytes[...])
        while let field = try reader.next() {
            let value = field.value
            switch field.number {
            case 1:
                guard let message = value.data else {
                    throw TokenizerError.malformedModel("piece entry is not a message")
                }
                try readPiece(message)
            case 2:
                guard let message = value.data else {
                    throw TokenizerError.malformedModel("trainer_spec is not a message")
                }
                try readTrainerSpec(message)
            case 3:
                guard let message = value.data else {
                    throw TokenizerError.malformedModel("normalizer_spec is not a message")
                }
                try readNormalizerSpec(message)
            default:
                continue
            }
        }
        guard !pieces.isEmpty else { throw TokenizerError.malformedModel("no pieces") }
        guard modelType == 1 else {
            throw TokenizerError.unsupportedModel("model type \(modelType) is not unigram (1)")
        }
        guard !byteFallback else {
            throw TokenizerError.unsupportedModel("byte fallback is not supported")
        }
    }

    private mutating func readPiece(_ message: ArraySlice<UInt8>) throws {
        var reader = ProtobufReader(message)
        var piece: [UInt8] = []
        var score: Float = 0
        var type = PieceType.normal
        while let field = try reader.next() {
            let value = field.value
            switch field.number {
            case 1: piece = Array(value.data ?? [])
            case 2: score = value.float ?? 0
            case 3:
                guard let raw = value.int, let known = PieceType(rawValue: raw) else {
                    throw TokenizerError.malformedModel("piece \(pieces.count) has an unknown type")
                }
                type = known
            default: continue
            }
        }
        pieces.append(piece)
        scores.append(score)
        types.append(type)
    }

    private mutating func readTrainerSpec(_ message: ArraySlice<UInt8>) throws {
        var reader = ProtobufReader(message)
        while let field = try reader.next() {
            let value = field.value
            switch field.number {
            case 3: modelType = value.int ?? modelType
            case 24: treatWhitespaceAsSuffix = value.bool ?? false
            case 35: byteFallback = value.bool ?? false
            default: continue
            }
        }
    }

    private mutating func readNormalizerSpec(_ message: ArraySlice<UInt8>) throws {
        var reader = ProtobufReader(message)
        while let field = try reader.next() {
            let value = field.value
            switch field.number {
            case 1: normalizerName = value.string ?? ""
            case 2: precompiledCharsmap = Array(value.data ?? [])
            case 3: addDummyPrefix = value.bool ?? true
            case 4: removeExtraWhitespaces = value.bool ?? true
            case 5: escapeWhitespaces = value.bool ?? true
            default: continue
            }
        }
    }
}

/// Bytes of the UTF-8 character starting with `lead` (SentencePiece's OneCharLen).
func utf8CharLength(_ lead: UInt8) -> Int {
    let table = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
    return table[Int(lead >> 4)]
}
