import Foundation
import SwiftUI
import UIKit
import VQACore

@MainActor
final class AppModel: ObservableObject {
    @AppStorage("defaultQuestion") var defaultQuestion = "What is this?"
    @AppStorage("retakeThreshold") var retakeThreshold = 0.5
    @AppStorage("computeUnits") var computeUnits = ComputeUnitsChoice.all.rawValue
    @AppStorage("bundleName") var bundleName = ""

    @Published var status = "Loading the model…"
    @Published var answer = ""
    @Published var busy = false
    @Published var benchmarkMessage: String?

    let camera = Camera()
    let speech = SpeechInput()
    private let speaker = Speaker()
    private var engine: VQAEngine?

    /// Bundles in Documents/bundles and in the app itself.
    var bundles: [URL] {
        let documents = URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent("Documents/bundles")
        var found = (try? FileManager.default.contentsOfDirectory(at: documents, includingPropertiesForKeys: nil)) ?? []
        if let resources = Bundle.main.resourceURL {
            let inApp = (try? FileManager.default.contentsOfDirectory(at: resources, includingPropertiesForKeys: nil)) ?? []
            found += inApp.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent(Manifest.fileName).path) }
        }
        return found.sorted { $0.lastPathComponent < $1.lastPathComponent }
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
        await camera.start()
        await loadModel()
    }

    func loadModel() async {
        guard let bundle = bundles.first(where: { $0.lastPathComponent == bundleName }) ?? bundles.first else {
            status = "No model bundle. Copy one into Documents/bundles."
            return
        }
        status = "Loading \(bundle.lastPathComponent)…"
        do {
            let units = ComputeUnitsChoice(rawValue: computeUnits) ?? .all
            let loaded = try await VQAEngine(bundle: bundle, computeUnits: units)
            try await loaded.warmUp()
            engine = loaded
            status = "Ready"
        } catch {
            status = "The model could not be loaded: \(error)"
        }
    }

    /// Takes a photo, answers `question` and speaks the answer (with a retake hint when unsure).
    func ask(_ question: String) async {
        let text = question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let engine = engine, !busy else { return }
        guard !text.isEmpty else {
            speaker.say("Please ask a question first.")
            return
        }
        busy = true
        defer { busy = false }
        speaker.say("Taking a photo.")
        do {
            let photo = try await camera.capture(rotationAngle: Camera.rotationAngle())
            let image = try RGBAImage(photo)
            let decoded = try await engine.answer(rgba: image.pixels, width: image.width,
                                                  height: image.height, question: text)
            answer = decoded.answer
            var spoken = decoded.answer
            let unsure = decoded.answer == "unanswerable"
                || (decoded.answerable.map { $0 < retakeThreshold } ?? false)
            if unsure {
                spoken += ". I am not sure. Try again closer, with more light, and hold the phone steady."
            }
            speaker.say(spoken)
        } catch {
            answer = ""
            speaker.say("Something went wrong: \(error)")
        }
    }
}
