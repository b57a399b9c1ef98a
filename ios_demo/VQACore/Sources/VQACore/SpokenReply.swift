import Foundation

/// What the app says after a photo: the answer, or a plain-words abstention, and why to retake
/// when the image-quality check found a reason. Never the answer label "unanswerable".
public struct SpokenReply: Equatable, Sendable {
    /// Spoken and shown.
    public let text: String
    /// The model answered with enough confidence; false for an abstention.
    public let confident: Bool

    /// The specific reason to retake for a quality verdict, nil for a good photo.
    /// `lightTurnedOn`: the app has just switched the torch on for a dark photo.
    public static func retakeReason(_ verdict: ImageQuality.Verdict, lightTurnedOn: Bool) -> String? {
        switch verdict {
        case .tooDark:
            return lightTurnedOn
                ? "The photo is too dark. I turned on the light."
                : "The photo is too dark. Turn on a light or move somewhere brighter."
        case .tooBright:
            return "The photo is too bright. Turn the camera away from the light or the window."
        case .blurred:
            return "The photo is blurred. Hold the phone still, a little further away."
        case .ok:
            return nil
        }
    }

    /// The reply for a decoded answer. It abstains when the model chose the unanswerable class
    /// or its answerable score is below `threshold`.
    public static func make(_ decoded: AnswerDecoder.Decoded, unanswerableIndex: Int?,
                            threshold: Double, quality: ImageQuality.Report?,
                            lightTurnedOn: Bool) -> SpokenReply
    {
        let reason = quality.flatMap { retakeReason($0.verdict, lightTurnedOn: lightTurnedOn) }
        let abstains = decoded.index == unanswerableIndex
            || (decoded.answerable.map { $0 < threshold } ?? false)
        if abstains {
            let advice = reason ?? "Try again closer, with more light, and hold the phone steady."
            return SpokenReply(text: "I can't tell from this photo. \(advice) Then ask again.",
                               confident: false)
        }
        if let reason {
            return SpokenReply(text: "\(decoded.answer). But I may be wrong: \(reason)",
                               confident: true)
        }
        return SpokenReply(text: decoded.answer, confident: true)
    }
}
