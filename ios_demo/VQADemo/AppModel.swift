@preconcurrency import AVFoundation
import Foundation
import SwiftUI
import UIKit
import VQACore

/// The app's state and the one thing it does: take a photo, check it, answer, speak.
@MainActor
final class AppModel: ObservableObject {
    enum Phase: Equatable {
        case starting, loading, ready, answering, noBundle, failed
    }

    @AppStorage("defaultQuestion") var defaultQuestion = "What is this?"
    @AppStorage("retakeThreshold") var retakeThreshold = 0.5
    @AppStorage("computeUnits") var computeUnits = ComputeUnitsChoice.all.rawValue
    @AppStorage("bundleName") var bundleName = ""

    @Published private(set) var phase = Phase.starting
    @Published private(set) var status = "Starting…"
    @Published private(set) var answer = ""
    @Published var benchmarkMessage: String?

    let camera = Camera()
    let speech = SpeechInput()
    private let speaker = Speaker()
    private var engine: VQAEngine?
    private var loadedChoice = ""
    private var loads = 0
    private var rotation: AVCaptureDevice.RotationCoordinator?
    private var torchOn = false

    /// The longer side photos are decoded at (ImageIO shrinks them while decoding).
    static let photoSide = 1280
    static let noBundleWords = "No model is installed. Copy an exported Core ML bundle into the app's Documents, bundles folder."

    /// Bundles: folders holding a manifest.json, in Documents/bundles and in the app's Bundles
    /// folder reference (or at the top of its resources).
    var bundles: [URL] {
        let manager = FileManager.default
        var places: [URL] = []
        if let documents = manager.urls(for: .documentDirectory, in: .userDomainMask).first {
            places.append(documents.appendingPathComponent("bundles", isDirectory: true))
        }
        if let resources = Bundle.main.resourceURL {
            places += [resources.appendingPathComponent("Bundles", isDirectory: true), resources]
        }
        var found: [String: URL] = [:]  // by name; Documents first, so a copied bundle wins
        for place in places {
            let entries = (try? manager.contentsOfDirectory(at: place, includingPropertiesForKeys: nil)) ?? []
            for entry in entries
            where manager.fileExists(atPath: entry.appendingPathComponent(Manifest.fileName).path)
                && found[entry.lastPathComponent] == nil
            {
                found[entry.lastPathComponent] = entry
            }
        }
        return found.values.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    func launch(arguments: [String]) async {
        do {
            if let benchmark = try BenchmarkArguments.parse(arguments) {
                status = "Benchmark mode"
                benchmarkMessage = await BenchmarkMode.run(benchmark)
                return
            }
        } catch {
            benchmarkMessage = "\(error)"
            return
        }
        if let problem = await camera.start() {
            status = problem.description
            speaker.say(problem.description)
        } else if let device = camera.device {
            rotation = AVCaptureDevice.RotationCoordinator(device: device, previewLayer: nil)
        }
        await loadModel()
    }

    /// Loads the chosen bundle unless it is already loaded with the same compute units.
    func loadModel() async {
        guard let bundle = bundles.first(where: { $0.lastPathComponent == bundleName }) ?? bundles.first
        else {
            phase = .noBundle
            status = Self.noBundleWords
            speaker.say(status)
            return
        }
        let choice = "\(bundle.path)|\(computeUnits)"
        if engine != nil, choice == loadedChoice, phase != .failed { return }
        loads += 1
        let load = loads
        phase = .loading
        status = "Loading the model. The first start also prepares it for this phone, which takes longer."
        do {
            let units = ComputeUnitsChoice(rawValue: computeUnits) ?? .all
            let loaded = try await VQAEngine(bundle: bundle, computeUnits: units)
            try await loaded.warmUp()
            guard load == loads else { return }
            engine = loaded
            loadedChoice = choice
            phase = .ready
            status = "Ready. Tap Take photo to ask: \(defaultQuestion)"
            speaker.say(status)
        } catch {
            guard load == loads else { return }
            phase = .failed
            status = "The model could not be loaded. \(Self.words(for: error))"
            speaker.say(status)
        }
    }

    /// Takes a photo, checks it, answers `question` and speaks the reply.
    func ask(_ question: String) async {
        switch phase {
        case .starting, .loading:
            speaker.say("Still loading the model. Please wait a moment.")
            return
        case .answering:
            speaker.say("Still answering.")
            return
        case .noBundle, .failed:
            speaker.say(status)
            return
        case .ready:
            break
        }
        guard let engine else { return }
        let text = question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            speaker.say("Please ask a question first.")
            return
        }
        phase = .answering
        defer { if phase == .answering { phase = .ready } }
        speaker.say("Taking a photo.")
        do {
            let angle = rotation?.videoRotationAngleForHorizonLevelCapture ?? 90
            let data = try await camera.capture(rotationAngle: angle)
            Haptics.photoTaken()
            let (image, quality) = try await Self.examine(data, maxSide: Self.photoSide)
            var lightTurnedOn = false
            if quality.verdict == .tooDark, !torchOn, camera.device?.hasTorch == true {
                camera.setTorch(true)
                torchOn = true
                lightTurnedOn = true
            }
            let decoded = try await engine.answer(rgba: image.pixels, width: image.width,
                                                  height: image.height, question: text)
            let unanswerable = await engine.manifest.answers.unanswerableIndex
            let reply = SpokenReply.make(decoded, unanswerableIndex: unanswerable,
                                         threshold: retakeThreshold, quality: quality,
                                         lightTurnedOn: lightTurnedOn)
            answer = reply.text
            speaker.say(reply.text)
            if reply.confident { Haptics.answerReady() } else { Haptics.tryAgain() }
        } catch {
            answer = ""
            status = Self.words(for: error)
            speaker.say(status)
            Haptics.tryAgain()
        }
    }

    /// Starts voice input: VoiceOver's own speech ends before the microphone opens, and a haptic
    /// marks the moment listening starts.
    func startListening() async {
        speaker.silence()
        if UIAccessibility.isVoiceOverRunning {
            speaker.say("Speak after the tap.")
            try? await Task.sleep(for: .milliseconds(1200))
        }
        do {
            try await speech.start()
            Haptics.listening()
        } catch {
            speaker.say(Self.words(for: error))
        }
    }

    /// Stops voice input and asks what was heard.
    func stopListeningAndAsk() async {
        let heard = await speech.finish()
        await ask(heard)
    }

    /// Leaving the foreground turns the torch off.
    func enteredBackground() {
        if torchOn {
            camera.setTorch(false)
            torchOn = false
        }
    }

    /// The photo decoded upright and small, and its quality report: off the main actor.
    nonisolated static func examine(_ photo: Data, maxSide: Int) async throws
        -> (RGBAImage, ImageQuality.Report)
    {
        let image = try RGBAImage(photo: photo, maxSide: maxSide)
        let quality = try ImageQuality.assess(rgba: image.pixels, width: image.width,
                                              height: image.height)
        return (image, quality)
    }

    /// An error in words a user understands.
    static func words(for error: Error) -> String {
        if let problem = error as? CameraError { return problem.description }
        if let problem = error as? ListeningProblem { return problem.description }
        if let problem = error as? TokenizerError, case .empty = problem {
            return "I did not catch a question. Please ask again."
        }
        if let problem = error as? EngineError, case .notCoreML = problem {
            return "This model is not for iPhone. Export it with --format coreml."
        }
        if let problem = error as? BundleError {
            return "The model's files are incomplete or changed. Copy the bundle to the phone again. (\(problem.description))"
        }
        return "Something went wrong. Please try again. (\(error.localizedDescription))"
    }
}
