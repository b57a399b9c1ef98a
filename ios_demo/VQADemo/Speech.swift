import Accessibility
@preconcurrency import AVFoundation
import Foundation
import Speech
import UIKit

/// Why voice input cannot start, in words a user can act on.
enum ListeningProblem: Error, CustomStringConvertible {
    case speechDenied
    case microphoneDenied
    case unavailable
    case offlineUnsupported
    case noMicrophone
    case cannotStart

    var description: String {
        switch self {
        case .speechDenied:
            return "The app may not recognise speech. Allow it in Settings, Privacy and Security, Speech Recognition, or type the question."
        case .microphoneDenied:
            return "The app may not use the microphone. Allow it in Settings, Privacy and Security, Microphone, or type the question."
        case .unavailable: return "Speech recognition is not available right now. Type the question instead."
        case .offlineUnsupported:
            return "This phone cannot recognise speech offline. Type the question instead."
        case .noMicrophone: return "No microphone is available. Type the question instead."
        case .cannotStart: return "The microphone could not start. Try again, or type the question."
        }
    }
}

/// The question by voice: Speech framework, on the device only (no audio leaves the phone).
/// Both permissions are asked for before the microphone opens; the input format is checked
/// (a 0 Hz or 0-channel format makes installTap raise); stopping waits for the final
/// transcript. The blocks AVAudioEngine and Speech call on their own threads are made outside
/// the main actor, so they carry no main-actor isolation.
@MainActor
final class SpeechInput: ObservableObject {
    @Published private(set) var transcript = ""
    @Published private(set) var listening = false
    private let recognizer = SFSpeechRecognizer()
    private let audioEngine = AVAudioEngine()
    private var request: SFSpeechAudioBufferRecognitionRequest?
    private var task: SFSpeechRecognitionTask?
    private var finalResult: CheckedContinuation<Void, Never>?
    private var waits = 0
    private var starting = false

    /// How long stopping waits for the recognizer's final transcript.
    static let finalResultTimeout: Duration = .seconds(2)

    /// Asks for speech recognition and microphone access, then listens.
    func start() async throws {
        guard !listening, !starting else { return }
        starting = true
        defer { starting = false }
        guard await Self.speechAuthorized() else { throw ListeningProblem.speechDenied }
        guard await AVAudioApplication.requestRecordPermission() else {
            throw ListeningProblem.microphoneDenied
        }
        guard let recognizer, recognizer.isAvailable else { throw ListeningProblem.unavailable }
        guard recognizer.supportsOnDeviceRecognition else {
            throw ListeningProblem.offlineUnsupported
        }
        let session = AVAudioSession.sharedInstance()
        do {
            try session.setCategory(.record, mode: .measurement, options: [.duckOthers])
            try session.setAllowHapticsAndSystemSoundsDuringRecording(true)
            try session.setActive(true, options: .notifyOthersOnDeactivation)
        } catch {
            throw ListeningProblem.cannotStart
        }
        let input = audioEngine.inputNode
        let format = input.outputFormat(forBus: 0)
        guard format.sampleRate > 0, format.channelCount > 0 else {
            releaseSession()
            throw ListeningProblem.noMicrophone
        }
        let request = SFSpeechAudioBufferRecognitionRequest()
        request.requiresOnDeviceRecognition = true
        request.shouldReportPartialResults = true
        input.installTap(onBus: 0, bufferSize: 1024, format: format, block: Self.feeding(request))
        audioEngine.prepare()
        do {
            try audioEngine.start()
        } catch {
            input.removeTap(onBus: 0)
            releaseSession()
            throw ListeningProblem.cannotStart
        }
        self.request = request
        transcript = ""
        listening = true
        let deliver: @Sendable (String?, Bool) -> Void = { [weak self] text, done in
            guard let owner = self else { return }
            Task { @MainActor in owner.received(text, done: done) }
        }
        task = recognizer.recognitionTask(with: request, resultHandler: Self.resultHandler(deliver))
    }

    /// Stops listening and returns the transcript, after the recognizer's final result (or the
    /// timeout): cancelling right after `endAudio` would drop the last words.
    func finish() async -> String {
        guard listening else { return transcript }
        audioEngine.stop()
        audioEngine.inputNode.removeTap(onBus: 0)
        request?.endAudio()
        if task != nil {
            waits += 1
            let wait = waits
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                finalResult = continuation
                Task { @MainActor in
                    try? await Task.sleep(for: Self.finalResultTimeout)
                    if self.waits == wait { self.resumeWaiter() }
                }
            }
        }
        tearDown()
        return transcript
    }

    private func received(_ text: String?, done: Bool) {
        if let text { transcript = text }
        guard done else { return }
        if finalResult != nil {
            resumeWaiter()
        } else if listening {
            // The recognizer ended by itself (an error, or a long silence).
            audioEngine.stop()
            audioEngine.inputNode.removeTap(onBus: 0)
            tearDown()
        }
    }

    private func resumeWaiter() {
        finalResult?.resume()
        finalResult = nil
    }

    private func tearDown() {
        task?.cancel()
        task = nil
        request = nil
        listening = false
        releaseSession()
    }

    private func releaseSession() {
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
    }

    nonisolated private static func speechAuthorized() async -> Bool {
        let status = await withCheckedContinuation {
            (continuation: CheckedContinuation<SFSpeechRecognizerAuthorizationStatus, Never>) in
            SFSpeechRecognizer.requestAuthorization { continuation.resume(returning: $0) }
        }
        return status == .authorized
    }

    /// The tap block: the audio engine calls it on its own thread.
    nonisolated private static func feeding(_ request: SFSpeechAudioBufferRecognitionRequest)
        -> AVAudioNodeTapBlock
    {
        return { buffer, _ in request.append(buffer) }
    }

    /// The recognition handler: Speech calls it on its own queue; only strings and flags leave it.
    nonisolated private static func resultHandler(_ deliver: @escaping @Sendable (String?, Bool) -> Void)
        -> @Sendable (SFSpeechRecognitionResult?, Error?) -> Void
    {
        return { result, error in
            deliver(result?.bestTranscription.formattedString, error != nil || result?.isFinal == true)
        }
    }
}

/// Speaks to the user. With VoiceOver on, a high-priority VoiceOver announcement (so it is not
/// heard twice, and not cut off by the next focus change); otherwise the synthesizer with the
/// VoiceOver voice settings, in a `.playback` / `.spokenAudio` session that ducks other audio,
/// so answers are heard with the Ring/Silent switch on silent. The session is released (other
/// audio un-ducked) when speaking ends.
@MainActor
final class Speaker: NSObject, AVSpeechSynthesizerDelegate {
    private let synthesizer = AVSpeechSynthesizer()
    /// The audio session was activated here and not handed over since.
    private var ownsSession = false

    override init() {
        super.init()
        synthesizer.delegate = self
    }

    func say(_ text: String) {
        if UIAccessibility.isVoiceOverRunning {
            var announcement = AttributedString(text)
            announcement.accessibilitySpeechAnnouncementPriority = .high
            AccessibilityNotification.Announcement(announcement).post()
            return
        }
        synthesizer.stopSpeaking(at: .immediate)
        let session = AVAudioSession.sharedInstance()
        try? session.setCategory(.playback, mode: .spokenAudio, options: [.duckOthers])
        try? session.setActive(true)
        ownsSession = true
        let utterance = AVSpeechUtterance(string: text)
        utterance.prefersAssistiveTechnologySettings = true
        synthesizer.speak(utterance)
    }

    /// Stops speaking and hands the audio session over (before the microphone opens), so a late
    /// end-of-speech callback does not deactivate the recording session.
    func silence() {
        ownsSession = false
        synthesizer.stopSpeaking(at: .immediate)
    }

    private func releaseSession() {
        guard ownsSession, !synthesizer.isSpeaking else { return }
        ownsSession = false
        try? AVAudioSession.sharedInstance().setActive(false, options: .notifyOthersOnDeactivation)
    }

    nonisolated func speechSynthesizer(_ synthesizer: AVSpeechSynthesizer,
                                       didFinish utterance: AVSpeechUtterance)
    {
        Task { @MainActor in self.releaseSession() }
    }

    nonisolated func speechSynthesizer(_ synthesizer: AVSpeechSynthesizer,
                                       didCancel utterance: AVSpeechUtterance)
    {
        Task { @MainActor in self.releaseSession() }
    }
}
