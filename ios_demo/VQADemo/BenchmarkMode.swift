import CoreML
import Foundation
import UIKit
import VQACore

/// Launch arguments of the benchmark and accuracy modes (docs/ios_benchmark.md):
/// `--benchmark BUNDLE --runs N --warmup N --out FILE [--compute-units all|cpu-ne|cpu]
/// [--samples DIR --predictions FILE]`. Relative paths are inside the app's container
/// (e.g. `Documents/bundles/x`).
struct BenchmarkArguments {
    var bundle: URL
    var runs = 50
    var warmup = 10
    var out: URL
    var computeUnits = ComputeUnitsChoice.all
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

/// Benchmark mode: load, first inference, warm-up and timed runs at batch 1 on a real
/// preprocessed input, then one result row written atomically; with samples, every sample
/// answered and the predictions file written for `python -m benchmark ingest`.
enum BenchmarkMode {
    static func run(_ arguments: BenchmarkArguments) async -> String {
        let label = arguments.bundle.lastPathComponent
        var row = ResultRow(label: label, format: "coreml", precision: "unknown",
                            deviceName: DeviceInfo.model, osName: DeviceInfo.osName)
        row.runtimeVersion = DeviceInfo.osName
        row.computeUnits = arguments.computeUnits.rawValue
        row.bundlePath = arguments.bundle.path
        row.runId = "ios-\(Int(Date().timeIntervalSince1970))"
        do {
            let before = DeviceInfo.footprintBytes
            let engine = try await VQAEngine(bundle: arguments.bundle, computeUnits: arguments.computeUnits)
            let manifest = await engine.manifest
            row.precision = manifest.precision
            row.quantization = manifest.quantization.scheme
            row.modelFile = manifest.modelFile
            row.loadMs = await engine.loadMs
            if let before = before, let after = DeviceInfo.footprintBytes {
                row.loadMemoryBytes = after - before
            }
            let input = try await benchmarkInput(engine, samples: arguments.samples)
            let firstStart = Date()
            _ = try await engine.logits(input)
            row.firstInferenceMs = Date().timeIntervalSince(firstStart) * 1000
            for _ in 0..<arguments.warmup { _ = try await engine.logits(input) }
            row.warmup = arguments.warmup
            var times: [Double] = []
            for _ in 0..<arguments.runs {
                let start = Date()
                _ = try await engine.logits(input)
                times.append(Date().timeIntervalSince(start) * 1000)
            }
            row.latency = LatencyStats.summarize(times)
            if let samples = arguments.samples, let predictions = arguments.predictions {
                let count = try await predict(engine, samples: samples, into: predictions)
                row.notes.append("accuracy mode: \(count) samples predicted into \(predictions.lastPathComponent)")
            }
            row.peakMemoryBytes = DeviceInfo.peakFootprintBytes
        } catch {
            row.status = "error"
            row.error = "\(error)"
        }
        do {
            try row.write(to: arguments.out)
            return "wrote \(arguments.out.path)"
        } catch {
            return "cannot write \(arguments.out.path): \(error)"
        }
    }

    /// The first sample when a samples folder is given, else a gray image and a question.
    private static func benchmarkInput(_ engine: VQAEngine, samples: URL?) async throws -> MLFeatureProvider {
        if let samples = samples, let first = try SamplesFolder(samples).samples.first {
            let image = try RGBAImage(contentsOf: first.image)
            return try await engine.inputs(
                rgba: image.pixels, width: image.width, height: image.height, question: first.question)
        }
        let size = await engine.manifest.preprocessing.imageSize
        let gray = [UInt8](repeating: 128, count: size * size * 4)
        return try await engine.inputs(
            rgba: gray, width: size, height: size, question: "What is this?")
    }

    private static func predict(_ engine: VQAEngine, samples: URL, into url: URL) async throws -> Int {
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
