import Accessibility
import AVFoundation
import Foundation
import Speech
import SwiftUI
import UIKit

/// The question by voice: Speech framework, on the device only where the recognizer supports
/// it (no audio leaves the phone; where it cannot, voice input says so and typing remains).
@MainActor
final class SpeechInput: ObservableObject {
    @Published var transcript = ""
    @Published var listening = false
    @Published var unavailableReason: String?
    private let recognizer = SFSpeechRecognizer()
    private let audioEngine = AVAudioEngine()
    private var request: SFSpeechAudioBufferRecognitionRequest?
    private var task: SFSpeechRecognitionTask?

    func start() async {
        let status = await withCheckedContinuation { continuation in
            SFSpeechRecognizer.requestAuthorization { continuation.resume(returning: $0) }
        }
        guard status == .authorized, let recognizer = recognizer, recognizer.isAvailable else {
            unavailableReason = "Speech recognition is not allowed or not available."
            return
        }
        guard recognizer.supportsOnDeviceRecognition else {
            unavailableReason = "This phone cannot recognise speech offline. Type the question instead."
            return
        }
        let request = SFSpeechAudioBufferRecognitionRequest()
        request.requiresOnDeviceRecognition = true
        request.shouldReportPartialResults = true
        self.request = request
        do {
            let audio = AVAudioSession.sharedInstance()
            try audio.setCategory(.playAndRecord, mode: .measurement, options: [.duckOthers, .defaultToSpeaker])
            try audio.setActive(true, options: .notifyOthersOnDeactivation)
            let input = audioEngine.inputNode
            input.installTap(onBus: 0, bufferSize: 1024, format: input.outputFormat(forBus: 0)) { buffer, _ in
                request.append(buffer)
            }
            audioEngine.prepare()
            try audioEngine.start()
            listening = true
            transcript = ""
            task = recognizer.recognitionTask(with: request) { [weak self] result, error in
                Task { @MainActor in
                    if let result = result { self?.transcript = result.bestTranscription.formattedString }
                    if error != nil || result?.isFinal == true { self?.stop() }
                }
            }
        } catch {
            unavailableReason = "The microphone could not start: \(error.localizedDescription)"
            stop()
        }
    }

    func stop() {
        audioEngine.stop()
        audioEngine.inputNode.removeTap(onBus: 0)
        request?.endAudio()
        task?.cancel()
        request = nil
        task = nil
        listening = false
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
    }
}

/// Speaks answers with the user's VoiceOver voice settings and posts them to VoiceOver.
@MainActor
final class Speaker {
    private let synthesizer = AVSpeechSynthesizer()

    func say(_ text: String) {
        AccessibilityNotification.Announcement(text).post()
        if UIAccessibility.isVoiceOverRunning { return }
        synthesizer.stopSpeaking(at: .immediate)
        let utterance = AVSpeechUtterance(string: text)
        utterance.prefersAssistiveTechnologySettings = true
        synthesizer.speak(utterance)
    }
}
