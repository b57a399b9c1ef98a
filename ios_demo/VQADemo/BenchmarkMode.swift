import Foundation
import UIKit
import VQACore

/// Launch arguments of the benchmark and accuracy modes (docs/ios_benchmark.md):
/// `--benchmark BUNDLE --runs N --warmup N --out FILE [--compute-units all|cpu-ne|cpu]
/// [--cooldown SECONDS] [--samples DIR --predictions FILE]`. Relative paths are inside the
/// app's container (e.g. `Documents/bundles/x`).
struct BenchmarkArguments: Sendable {
    var bundle: URL
    var runs = 50
    var warmup = 10
    var out: URL
    var computeUnits = ComputeUnitsChoice.all
    /// The longest wait for a nominal thermal state before measuring (0: no wait).
    var coolDownSeconds = 600
    var samples: URL? = nil
    var predictions: URL? = nil

    /// nil when the app was launched without `--benchmark`.
    static func parse(_ arguments: [String]) throws -> BenchmarkArguments? {
        guard let index = arguments.firstIndex(of: "--benchmark") else { return nil }
        var values: [String: String] = [:]
        var i = index
        while i < arguments.count {
            let name = arguments[i]
            if name.hasPrefix("--") {
                guard i + 1 < arguments.count else {
                    throw BundleError("launch argument \(name) needs a value")
                }
                values[name] = arguments[i + 1]
                i += 2
            } else {
                i += 1
            }
        }
        guard let bundle = values["--benchmark"] else { throw BundleError("--benchmark needs a bundle") }
        let bundleURL = resolve(bundle)
        var parsed = BenchmarkArguments(
            bundle: bundleURL,
            out: resolve(values["--out"] ?? "Documents/\(bundleURL.lastPathComponent).result.json"))
        if let runs = values["--runs"] {
            guard let n = Int(runs), n >= 1 else { throw BundleError("--runs must be at least 1, got \(runs)") }
            parsed.runs = n
        }
        if let warmup = values["--warmup"] {
            guard let n = Int(warmup), n >= 0 else { throw BundleError("--warmup must be 0 or more, got \(warmup)") }
            parsed.warmup = n
        }
        if let seconds = values["--cooldown"] {
            guard let n = Int(seconds), n >= 0 else {
                throw BundleError("--cooldown must be 0 or more seconds, got \(seconds)")
            }
            parsed.coolDownSeconds = n
        }
        if let units = values["--compute-units"] {
            guard let choice = ComputeUnitsChoice(rawValue: units) else {
                throw BundleError("--compute-units must be all, cpu-ne or cpu, got \(units)")
            }
            parsed.computeUnits = choice
        }
        if let samples = values["--samples"] {
            parsed.samples = resolve(samples)
            parsed.predictions = resolve(values["--predictions"]
                ?? "Documents/\(bundleURL.lastPathComponent).predictions.json")
        }
        return parsed
    }

    static func resolve(_ path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(path)
    }
}

/// Benchmark mode: the screen kept awake; a wait (stated in the row) for a nominal thermal
/// state; the model load timed alone, as the host does (file checks before it, the first
/// compile timed separately); first inference, warm-up and timed runs at batch 1 on a real
/// preprocessed input; the thermal state at the start and end; one result row written
/// atomically. With samples, every sample answered and the predictions file written for
/// `python -m benchmark ingest`. One bundle a launch.
enum BenchmarkMode {
    static let thermalPollSeconds = 10

    @MainActor
    static func run(_ arguments: BenchmarkArguments) async -> String {
        UIApplication.shared.isIdleTimerDisabled = true
        defer { UIApplication.shared.isIdleTimerDisabled = false }
        let row = await measure(arguments)
        do {
            try row.write(to: arguments.out)
            return "wrote \(arguments.out.path)"
        } catch {
            return "cannot write \(arguments.out.path): \(error)"
        }
    }

    /// Waits until the thermal state is nominal, at most `seconds`; the note says what happened.
    static func coolDown(atMost seconds: Int) async -> String {
        let start = ContinuousClock.now
        var waited = 0
        while ProcessInfo.processInfo.thermalState != .nominal, waited < seconds {
            try? await Task.sleep(for: .seconds(thermalPollSeconds))
            waited = Int((ContinuousClock.now - start).components.seconds)
        }
        let state = DeviceInfo.thermalState ?? "unknown"
        if ProcessInfo.processInfo.thermalState == .nominal {
            return "cool-down: thermal state nominal after \(waited) s of waiting (at most \(seconds) s)"
        }
        return "cool-down: thermal state still \(state) after \(waited) s (at most \(seconds) s); measured anyway"
    }

    static func measure(_ arguments: BenchmarkArguments) async -> ResultRow {
        let label = arguments.bundle.lastPathComponent
        var row = ResultRow(label: label, format: "coreml", precision: "unknown",
                            deviceName: DeviceInfo.model, osName: DeviceInfo.osName)
        row.runtimeVersion = DeviceInfo.osName
        row.computeUnits = arguments.computeUnits.rawValue
        row.bundlePath = arguments.bundle.path
        row.runId = "ios-\(Int(Date().timeIntervalSince1970))"
        row.notes.append(await coolDown(atMost: arguments.coolDownSeconds))
        row.thermalStart = DeviceInfo.thermalState
        do {
            let before = DeviceInfo.footprintBytes
            let engine = try await VQAEngine(bundle: arguments.bundle, computeUnits: arguments.computeUnits)
            let manifest = await engine.manifest
            row.precision = manifest.precision
            row.quantization = manifest.quantization.scheme
            row.modelFile = manifest.modelFile
            row.loadMs = await engine.loadMs
            row.compileMs = await engine.compileMs
            row.compiledModelCached = await engine.compileMs == nil
            if let before = before, let after = DeviceInfo.footprintBytes {
                row.loadMemoryBytes = after - before
            }
            try await prepareInput(engine, manifest: manifest, samples: arguments.samples)
            row.firstInferenceMs = try await engine.timePredictions(1)[0]
            _ = try await engine.timePredictions(arguments.warmup)
            row.warmup = arguments.warmup
            row.latency = LatencyStats.summarize(try await engine.timePredictions(arguments.runs))
            row.thermalEnd = DeviceInfo.thermalState
            if let samples = arguments.samples, let predictions = arguments.predictions {
                let count = try await predict(engine, samples: samples, into: predictions)
                row.notes.append("accuracy mode: \(count) samples predicted into \(predictions.lastPathComponent)")
            }
            row.peakMemoryBytes = DeviceInfo.peakFootprintBytes
        } catch {
            row.status = "error"
            row.error = "\(error)"
            row.thermalEnd = DeviceInfo.thermalState
        }
        return row
    }

    /// The first sample when a samples folder is given, else a gray image and a question.
    private static func prepareInput(_ engine: VQAEngine, manifest: Manifest,
                                                 samples: URL?) async throws
    {
        if let samples = samples, let first = try SamplesFolder(samples).samples.first {
            let image = try RGBAImage(contentsOf: first.image)
            try await engine.prepareBenchmarkInput(rgba: image.pixels, width: image.width,
                                                   height: image.height, question: first.question)
            return
        }
        let size = manifest.preprocessing.imageSize
        let gray = [UInt8](repeating: 128, count: size * size * 4)
        try await engine.prepareBenchmarkInput(rgba: gray, width: size, height: size,
                                               question: "What is this?")
    }

    private static func predict(_ engine: VQAEngine, samples: URL, into url: URL)
        async throws -> Int
    {
        let folder = try SamplesFolder(samples)
        var writer = PredictionsWriter()
        for sample in folder.samples {
            let image = try RGBAImage(contentsOf: sample.image)
            let decoded = try await engine.answer(rgba: image.pixels, width: image.width,
                                                  height: image.height, question: sample.question)
            writer.add(key: sample.key, decoded: decoded)
        }
        try writer.write(to: url)
        return folder.samples.count
    }
}
