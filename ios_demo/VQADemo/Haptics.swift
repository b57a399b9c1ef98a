import UIKit

/// Felt, not only heard: a photo was taken, an answer is ready, try again, listening started.
@MainActor
enum Haptics {
    static func photoTaken() { UIImpactFeedbackGenerator(style: .medium).impactOccurred() }
    static func answerReady() { UINotificationFeedbackGenerator().notificationOccurred(.success) }
    static func tryAgain() { UINotificationFeedbackGenerator().notificationOccurred(.warning) }
    static func listening() { UIImpactFeedbackGenerator(style: .rigid).impactOccurred() }
}
