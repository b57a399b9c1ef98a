import CoreML
import Foundation
import VQACore

/// Core ML compute units the user (or a benchmark launch argument) can choose.
enum ComputeUnitsChoice: String, CaseIterable, Identifiable {
    case all
    case cpuAndNeuralEngine = "cpu-ne"
    case cpuOnly = "cpu"

    var id: String { rawValue }

    var units: MLComputeUnits {
        switch self {
        case .all: return .all
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .cpuOnly: return .cpuOnly
        }
    }

    var label: String {
        switch self {
        case .all: return "All (Neural Engine, GPU, CPU)"
        case .cpuAndNeuralEngine: return "CPU and Neural Engine"
        case .cpuOnly: return "CPU only"
        }
    }
}

enum EngineError: Error, CustomStringConvertible {
    case notCoreML(String)
    case badOutput(String)

    var description: String {
        switch self {
        case .notCoreML(let format): return "the bundle is \(format), this app runs Core ML bundles"
        case .badOutput(let why): return "unexpected model output: \(why)"
        }
    }
}

/// One loaded bundle: its manifest, tokenizer, preprocessing, decoder and the Core ML model.
/// Tensor names, shapes and types all come from the manifest; nothing about them is built in.
actor VQAEngine {
    let manifest: Manifest
    let tokenizer: SentencePieceTokenizer
    let preprocessor: Preprocessor
    let decoder: AnswerDecoder
    private let model: MLModel

    /// Milliseconds spent compiling (first run only) and loading.
    let loadMs: Double

    init(bundle: URL, computeUnits: ComputeUnitsChoice) async throws {
        let start = Date()
        let manifest = try Manifest.read(bundle)
        guard manifest.format == "coreml" else { throw EngineError.notCoreML(manifest.format) }
        self.manifest = manifest
        tokenizer = try SentencePieceTokenizer(modelBytes: try Data(contentsOf: manifest.tokenizerURL))
        preprocessor = try Preprocessor(manifest.preprocessing)
        decoder = AnswerDecoder(answers: try manifest.readAnswers(),
                                unanswerableIndex: manifest.answers.unanswerableIndex)
        let compiled = try await CompiledModelCache.compiledModel(for: manifest)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits.units
        model = try await MLModel.load(contentsOf: compiled, configuration: configuration)
        loadMs = Date().timeIntervalSince(start) * 1000
    }

    /// The three model inputs for one image and question, typed and shaped as the manifest says.
    func inputs(rgba: [UInt8], width: Int, height: Int, question: String) throws -> MLFeatureProvider {
        let pixels = try preprocessor.process(rgba: rgba, width: width, height: height)
        let encoded = try tokenizer.encode(question, maxLen: manifest.tokenizer.maxLen)
        let image = try MultiArrays.make(manifest.imageInput, floats: pixels)
        let ids = try MultiArrays.make(manifest.questionInput, integers: encoded.ids)
        let mask = try MultiArrays.make(manifest.paddingMaskInput, integers: encoded.paddingMask)
        return try MLDictionaryFeatureProvider(dictionary: [
            manifest.imageInput.name: MLFeatureValue(multiArray: image),
            manifest.questionInput.name: MLFeatureValue(multiArray: ids),
            manifest.paddingMaskInput.name: MLFeatureValue(multiArray: mask),
        ])
    }

    /// The logits of one prepared input.
    func logits(_ inputs: MLFeatureProvider) async throws -> [Float] {
        let output = try await model.prediction(from: inputs)
        let name = manifest.logitsOutput.name
        guard let array = output.featureValue(for: name)?.multiArrayValue else {
            throw EngineError.badOutput("no multi-array output named \(name)")
        }
        return MultiArrays.floats(array)
    }

    func answer(rgba: [UInt8], width: Int, height: Int, question: String) async throws
        -> AnswerDecoder.Decoded
    {
        let prepared = try inputs(rgba: rgba, width: width, height: height, question: question)
        return try decoder.decode(try await logits(prepared))
    }

    /// A run on a gray image, so that the user's first question is not the slow one.
    func warmUp() async throws {
        let size = manifest.preprocessing.imageSize
        let gray = [UInt8](repeating: 128, count: size * size * 4)
        _ = try await answer(rgba: gray, width: size, height: size, question: "What is this?")
    }
}

/// MLMultiArray from and to Swift arrays, with the manifest's dtypes.
enum MultiArrays {
    static func shape(_ tensor: Manifest.Tensor) -> [NSNumber] {
        return tensor.shape.map { NSNumber(value: $0.sizeAtBatchOne) }
    }

    static func make(_ tensor: Manifest.Tensor, floats: [Float]) throws -> MLMultiArray {
        let dataType: MLMultiArrayDataType = tensor.dtype == "float16" ? .float16 : .float32
        let array = try MLMultiArray(shape: shape(tensor), dataType: dataType)
        guard array.count == floats.count else {
            throw EngineError.badOutput("\(tensor.name) holds \(array.count) values, got \(floats.count)")
        }
        for (i, value) in floats.enumerated() { array[i] = NSNumber(value: value) }
        return array
    }

    static func make(_ tensor: Manifest.Tensor, integers: [Int32]) throws -> MLMultiArray {
        guard tensor.dtype == "int32" else {
            throw EngineError.badOutput("\(tensor.name) is \(tensor.dtype); Core ML takes int32")
        }
        let array = try MLMultiArray(shape: shape(tensor), dataType: .int32)
        guard array.count == integers.count else {
            throw EngineError.badOutput("\(tensor.name) holds \(array.count) values, got \(integers.count)")
        }
        for (i, value) in integers.enumerated() { array[i] = NSNumber(value: value) }
        return array
    }

    static func floats(_ array: MLMultiArray) -> [Float] {
        return (0..<array.count).map { array[$0].floatValue }
    }
}

/// Compiles a bundle's .mlpackage once and keeps the .mlmodelc in Application Support, keyed
/// by the sha256 of the package's files, so later launches load without compiling.
enum CompiledModelCache {
    static func key(for manifest: Manifest) -> String {
        let prefix = manifest.modelFile + "/"
        let parts = manifest.files.keys.sorted()
            .filter { $0 == manifest.modelFile || $0.hasPrefix(prefix) }
            .map { "\($0):\(manifest.files[$0]?.sha256 ?? "")" }
        return SHA256.hex(Data(parts.joined(separator: "\n").utf8))
    }

    static func compiledModel(for manifest: Manifest) async throws -> URL {
        let support = try FileManager.default.url(for: .applicationSupportDirectory,
                                                  in: .userDomainMask, appropriateFor: nil,
                                                  create: true)
        let folder = support.appendingPathComponent("CompiledModels", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let cached = folder.appendingPathComponent("\(key(for: manifest)).mlmodelc")
        if FileManager.default.fileExists(atPath: cached.path) { return cached }
        let compiled = try await MLModel.compileModel(at: manifest.modelURL)
        _ = try? FileManager.default.removeItem(at: cached)
        try FileManager.default.moveItem(at: compiled, to: cached)
        return cached
    }
}
