import Foundation

/// One benchmark row in the results schema (benchmark/schemas/results.schema.json, version 1),
/// as `python -m benchmark ingest` reads it: source "ios-app", device = the phone.
public struct ResultRow: Sendable {
    public var created: Date = Date()
    public var runId: String? = nil
    public var status = "ok"
    public var error: String? = nil
    public var label: String
    public var format: String
    public var precision: String
    public var quantization: String? = nil
    public var bundlePath: String? = nil
    public var modelFile: String? = nil
    public var deviceName: String
    public var osName: String
    public var arch: String? = "arm64"
    public var runtimeName = "coreml"
    public var runtimeVersion: String? = nil
    public var computeUnits: String? = nil
    /// Milliseconds `MLModel.compileModel` took when this run compiled the model; nil when the
    /// compiled model came from the cache (then `runtime.details.compiled_model_cached` is true).
    public var compileMs: Double? = nil
    public var compiledModelCached: Bool? = nil
    /// Model load only (the host's `load`): no file checks, no compiling.
    public var loadMs: Double? = nil
    public var firstInferenceMs: Double? = nil
    public var warmup = 0
    public var latency: LatencyStats? = nil
    public var peakMemoryBytes: Int? = nil
    public var loadMemoryBytes: Int? = nil
    /// ProcessInfo.ThermalState names (nominal, fair, serious, critical) at the start of the
    /// measured part and at its end.
    public var thermalStart: String? = nil
    public var thermalEnd: String? = nil
    public var notes: [String] = []

    public init(label: String, format: String, precision: String, deviceName: String,
                osName: String)
    {
        self.label = label
        self.format = format
        self.precision = precision
        self.deviceName = deviceName
        self.osName = osName
    }

    /// The row as JSON, every required key present (nulls written out).
    public func json() -> JSONValue {
        let formatter = ISO8601DateFormatter()
        var members: [(String, JSONValue)] = [
            ("schema_version", .int(1)),
            ("created", .string(formatter.string(from: created))),
        ]
        if let runId = runId { members.append(("run_id", .string(runId))) }
        members += [
            ("status", .string(status)),
            ("error", .optional(error)),
            ("source", .string("ios-app")),
            ("role", .string("bundle")),
            ("label", .string(label)),
            ("format", .string(format)),
            ("precision", .string(precision)),
            ("quantization", .optional(quantization)),
        ]
        var bundle: [(String, JSONValue)] = []
        if let path = bundlePath { bundle.append(("path", .string(path))) }
        if let file = modelFile { bundle.append(("model_file", .string(file))) }
        members.append(("bundle", bundle.isEmpty ? .null : .object(bundle)))
        var details: [(String, JSONValue)] = []
        if let units = computeUnits { details.append(("compute_units", .string(units))) }
        if let compile = compileMs { details.append(("compile_ms", .number(compile))) }
        if let cached = compiledModelCached { details.append(("compiled_model_cached", .bool(cached))) }
        members.append(("runtime", .object([
            ("name", .string(runtimeName)),
            ("version", .optional(runtimeVersion)),
            ("details", .object(details)),
        ])))
        members.append(("device", .object([
            ("kind", .string("phone")),
            ("name", .string(deviceName)),
            ("os", .string(osName)),
            ("arch", .optional(arch)),
        ])))
        members.append(("threads", .null))
        members.append(("batch_size", .int(1)))
        if status == "ok", let stats = latency {
            members.append(("latency_ms", .object([
                ("load", .number(loadMs)),
                ("first_inference", .number(firstInferenceMs)),
                ("warmup", .int(warmup)),
                ("runs", .int(stats.runs)),
                ("mean", .number(stats.mean)),
                ("p50", .number(stats.p50)),
                ("p90", .number(stats.p90)),
                ("p99", .number(stats.p99)),
                ("std", .number(stats.std)),
                ("trimmed_mean", .number(stats.trimmedMean)),
                ("min", .number(stats.min)),
                ("max", .number(stats.max)),
                ("samples", .array(stats.samples.map { .number($0) })),
            ])))
            members.append(("memory", .object([
                ("peak_rss_bytes", .optional(peakMemoryBytes)),
                ("load_rss_bytes", .optional(loadMemoryBytes)),
                ("model_file_bytes", .null),
                ("bundle_bytes", .null),
            ])))
        } else {
            members.append(("latency_ms", .null))
            members.append(("memory", .null))
        }
        if let thermal = thermalStart { members.append(("thermal_start", .string(thermal))) }
        if let thermal = thermalEnd { members.append(("thermal_end", .string(thermal))) }
        if !notes.isEmpty { members.append(("notes", .array(notes.map { .string($0) }))) }
        return .object(members)
    }

    /// Writes the row (one JSON object and a newline) atomically.
    public func write(to url: URL) throws {
        try writeAtomically(Data((json().serialized() + "\n").utf8), to: url)
    }
}

/// The predictions file of the accuracy mode: a JSON list of {"image", "answer",
/// "answerable"?}, keyed by the sample keys of the samples folder, which `python -m benchmark
/// ingest --predictions FILE --samples DIR` (and `benchmark score`) read.
public struct PredictionsWriter: Sendable {
    public private(set) var entries: [JSONValue] = []

    public init() {}

    public mutating func add(key: String, decoded: AnswerDecoder.Decoded) {
        var members: [(String, JSONValue)] = [
            ("image", .string(key)), ("answer", .string(decoded.answer)),
        ]
        if let answerable = decoded.answerable { members.append(("answerable", .double(answerable))) }
        entries.append(.object(members))
    }

    public func write(to url: URL) throws {
        try writeAtomically(Data((JSONValue.array(entries).serialized() + "\n").utf8), to: url)
    }
}

/// A samples folder written by `python -m benchmark samples` (samples.json version 1).
public struct SamplesFolder: Sendable {
    public struct Sample: Sendable {
        public let key: String
        public let image: URL
        public let question: String
    }

    public let data: String
    public let split: String
    public let samples: [Sample]

    public init(_ folder: URL) throws {
        let url = folder.appendingPathComponent("samples.json")
        guard let bytes = try? Data(contentsOf: url),
              let index = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any]
        else {
            throw BundleError("\(folder.path): not a samples folder (no readable samples.json)")
        }
        guard index["format"] as? String == "vqa-samples", (index["version"] as? Int) == 1,
              let entries = index["samples"] as? [[String: Any]]
        else {
            throw BundleError("\(url.path): not a vqa-samples version 1 index")
        }
        var samples: [Sample] = []
        for (i, entry) in entries.enumerated() {
            guard let key = entry["key"] as? String, let image = entry["image"] as? String,
                  let question = entry["question"] as? String
            else {
                throw BundleError("\(url.path): sample \(i) needs string key, image and question")
            }
            samples.append(Sample(key: key, image: folder.appendingPathComponent(image),
                                  question: question))
        }
        data = index["data"] as? String ?? "unknown"
        split = index["split"] as? String ?? "unknown"
        self.samples = samples
    }
}
