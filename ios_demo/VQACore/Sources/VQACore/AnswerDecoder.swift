import Foundation

/// Logits -> answer, as the manifest's postprocessing says: argmax (the first maximum, as
/// numpy and torch), the top k by score then index, and answerable = 1 - sigmoid(logit of
/// "unanswerable") in double precision, or nil when the answer list has no "unanswerable".
public struct AnswerDecoder: Sendable {
    public struct Scored: Equatable, Sendable {
        public let index: Int
        public let answer: String
        public let score: Float
    }

    public struct Decoded: Equatable, Sendable {
        public let answer: String
        public let index: Int
        public let top: [Scored]
        public let answerable: Double?
    }

    public let answers: [String]
    public let unanswerableIndex: Int?

    public init(answers: [String], unanswerableIndex: Int?) {
        self.answers = answers
        self.unanswerableIndex = unanswerableIndex
    }

    public func decode(_ logits: [Float], topK: Int = 5) throws -> Decoded {
        guard logits.count == answers.count else {
            throw BundleError("\(logits.count) logits for \(answers.count) answers")
        }
        var best = 0
        for i in 1..<max(logits.count, 1) where logits[i] > logits[best] { best = i }
        let order = logits.indices.sorted { a, b in
            logits[a] != logits[b] ? logits[a] > logits[b] : a < b
        }
        let top = order.prefix(topK).map { Scored(index: $0, answer: answers[$0], score: logits[$0]) }
        var answerable: Double? = nil
        if let k = unanswerableIndex {
            answerable = 1.0 - 1.0 / (1.0 + exp(-Double(logits[k])))
        }
        return Decoded(answer: answers[best], index: best, top: top, answerable: answerable)
    }
}
