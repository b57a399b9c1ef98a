import Foundation

/// BEiT-3's question tokenizer: a SentencePiece unigram model with fairseq's (XLM-R's) ids,
/// `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 and piece id + 1, as `vqa.tokenizer.Tokenizer`.
///
/// Encoding follows SentencePiece itself: the normalizer, then the unigram model's Viterbi
/// search over the pieces (unigram_model.cc, EncodeOptimized: float path scores, unknown
/// characters scored at the lowest piece score minus 10), then runs of unknown pieces merged
/// into one, as SentencePieceProcessor does.
public struct SentencePieceTokenizer: Sendable {
    public static let bosId = 0
    public static let padId = 1
    public static let eosId = 2
    public static let unkId = 3
    public static let idOffset = 1
    static let unknownPenalty: Float = 10.0

    private let normalizer: Normalizer
    private let pieceIds: [[UInt8]: Int]
    private let scores: [Float]
    private let types: [PieceType]
    private let maxPieceBytes: Int
    private let minScore: Float
    private let maxScore: Float
    private let unkPieceId: Int

    /// Number of pieces in the SentencePiece model.
    public let pieceCount: Int

    public init(modelBytes: Data) throws {
        let model = try SentencePieceModel(bytes: [UInt8](modelBytes))
        normalizer = try Normalizer(model: model)
        var ids: [[UInt8]: Int] = [:]
        var longest = 0
        var low = Float.greatestFiniteMagnitude
        var high = -Float.greatestFiniteMagnitude
        var unknown: Int? = nil
        for (id, type) in model.types.enumerated() {
            switch type {
            case .normal, .userDefined, .unused:
                ids[model.pieces[id]] = id
                longest = max(longest, model.pieces[id].count)
            case .unknown:
                unknown = id
            case .control, .byte:
                break
            }
            if type == .normal {
                low = min(low, model.scores[id])
                high = max(high, model.scores[id])
            }
        }
        guard let unk = unknown else {
            throw TokenizerError.malformedModel("no unknown piece")
        }
        // The fairseq mapping assumes BEiT-3's layout: unk 0, <s> 1, </s> 2 (no pad piece).
        guard unk == 0, model.pieces.count > 2, model.types[1] == .control,
              model.types[2] == .control
        else {
            throw TokenizerError.unsupportedModel(
                "special pieces are not unk 0, <s> 1, </s> 2, which the fairseq ids need")
        }
        pieceIds = ids
        scores = model.scores
        types = model.types
        maxPieceBytes = longest
        minScore = low
        maxScore = high
        unkPieceId = unk
        pieceCount = model.pieces.count
    }

    /// Rows the text embedding needs at least (every piece id + 1, and id 0 for bos).
    public var vocabSize: Int { return pieceCount + SentencePieceTokenizer.idOffset }

    /// SentencePiece piece ids of `text` (unknown runs merged), before the fairseq mapping.
    func pieceIdsOf(_ text: String) -> [Int] {
        let normalized = normalizer.normalize(text)
        let size = normalized.count
        if size == 0 { return [] }
        var bestScore = [Float](repeating: 0, count: size + 1)
        var startsAt = [Int](repeating: -1, count: size + 1)
        var bestId = [Int](repeating: -1, count: size + 1)
        let unkScore: Float = minScore - SentencePieceTokenizer.unknownPenalty
        var start = 0
        while start < size {
            let tillHere = bestScore[start]
            var hasSingleNode = false
            let charLength = min(utf8CharLength(normalized[start]), size - start)
            let limit = min(size, start + maxPieceBytes)
            var end = start + 1
            while end <= limit {
                if let id = pieceIds[Array(normalized[start..<end])], types[id] != .unused {
                    let length = end - start
                    // Path scores are float sums, as the library computes them: on long runs
                    // of one character, near-equal paths are decided by float rounding (a
                    // double sum picks another path on BEiT-3's model; the golden vectors
                    // hold such a case).
                    let score: Float = types[id] == .userDefined
                        ? Float(Double(Float(length) * maxScore) - 0.1)
                        : scores[id]
                    let candidate = score + tillHere
                    if startsAt[end] == -1 || candidate > bestScore[end] {
                        bestScore[end] = candidate
                        startsAt[end] = start
                        bestId[end] = id
                    }
                    if length == charLength { hasSingleNode = true }
                }
                end += 1
            }
            if !hasSingleNode {
                let target = start + charLength
                let candidate = unkScore + tillHere
                if startsAt[target] == -1 || candidate > bestScore[target] {
                    bestScore[target] = candidate
                    startsAt[target] = start
                    bestId[target] = unkPieceId
                }
            }
            start += charLength
        }
        var path: [Int] = []
        var endsAt = size
        while endsAt > 0 {
            path.append(bestId[endsAt])
            endsAt = startsAt[endsAt]
        }
        path.reverse()
        var merged: [Int] = []
        var previousUnknown = false
        for id in path {
            let unknown = id == unkPieceId
            if !(unknown && previousUnknown) { merged.append(id) }
            previousUnknown = unknown
        }
        return merged
    }

    /// fairseq ids of every piece of `text`: no bos/eos, no truncation, no padding.
    public func tokenIds(_ text: String) -> [Int] {
        return pieceIdsOf(text).map { id in
            id == unkPieceId ? SentencePieceTokenizer.unkId : id + SentencePieceTokenizer.idOffset
        }
    }

    /// `[bos] + ids[..<maxLen-2] + [eos]`, padded to `maxLen`, and the padding mask (1 on pads).
    public func encode(_ text: String, maxLen: Int) throws -> (ids: [Int32], paddingMask: [Int32]) {
        guard maxLen >= 3 else { throw TokenizerError.badMaxLength(maxLen) }
        let pieces = tokenIds(text)
        if pieces.isEmpty { throw TokenizerError.empty(text) }
        var ids: [Int32] = [Int32(SentencePieceTokenizer.bosId)]
        ids += pieces.prefix(maxLen - 2).map { Int32($0) }
        ids.append(Int32(SentencePieceTokenizer.eosId))
        let used = ids.count
        let padding = maxLen - used
        ids += [Int32](repeating: Int32(SentencePieceTokenizer.padId), count: padding)
        let mask = [Int32](repeating: 0, count: used) + [Int32](repeating: 1, count: padding)
        return (ids, mask)
    }
}
