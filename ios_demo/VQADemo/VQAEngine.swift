import CoreML
import Foundation
import VQACore

/// Core ML compute units the user (or a benchmark launch argument) can choose.
enum ComputeUnitsChoice: String, CaseIterable, Identifiable, Sendable {
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
/// An actor, so loading and every prediction run off the main actor, one at a time; Core ML
/// values (model, inputs) never leave it.
actor VQAEngine {
    let manifest: Manifest
    let tokenizer: SentencePieceTokenizer
    let preprocessor: Preprocessor
    let decoder: AnswerDecoder
    private let model: MLModel
    private var benchmarkInput: MLFeatureProvider?

    /// Milliseconds of `MLModel.compileModel` when this load compiled the package, else nil.
    let compileMs: Double?
    /// Milliseconds of the model load alone (the host benchmark's `load`): no file checks, no
    /// compiling.
    let loadMs: Double

    init(bundle: URL, computeUnits: ComputeUnitsChoice) async throws {
        let manifest = try Manifest.read(bundle, verifyFiles: false)
        guard manifest.format == "coreml" else { throw EngineError.notCoreML(manifest.format) }
        try VerifiedBundles.verify(manifest)
        self.manifest = manifest
        tokenizer = try SentencePieceTokenizer(modelBytes: try Data(contentsOf: manifest.tokenizerURL))
        preprocessor = try Preprocessor(manifest.preprocessing)
        decoder = AnswerDecoder(answers: try manifest.readAnswers(),
                                unanswerableIndex: manifest.answers.unanswerableIndex)
        let compiled = try await CompiledModelCache.compiledModel(for: manifest)
        compileMs = compiled.compileMs
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits.units
        let start = ContinuousClock.now
        model = try MLModel(contentsOf: compiled.url, configuration: configuration)
        loadMs = milliseconds(ContinuousClock.now - start)
    }

    /// The three model inputs for one image and question, typed and shaped as the manifest says.
    private func inputs(rgba: [UInt8], width: Int, height: Int, question: String) throws
        -> MLFeatureProvider
    {
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
    private func logits(_ inputs: MLFeatureProvider) throws -> [Float] {
        let output = try model.prediction(from: inputs)
        let name = manifest.logitsOutput.name
        guard let array = output.featureValue(for: name)?.multiArrayValue else {
            throw EngineError.badOutput("no multi-array output named \(name)")
        }
        return MultiArrays.floats(array)
    }

    func answer(rgba: [UInt8], width: Int, height: Int, question: String) throws
        -> AnswerDecoder.Decoded
    {
        let prepared = try inputs(rgba: rgba, width: width, height: height, question: question)
        return try decoder.decode(try logits(prepared))
    }

    /// A run on a gray image, so that the user's first question is not the slow one.
    func warmUp() throws {
        let size = manifest.preprocessing.imageSize
        let gray = [UInt8](repeating: 128, count: size * size * 4)
        _ = try answer(rgba: gray, width: size, height: size, question: "What is this?")
    }

    /// Prepares the input the benchmark times (kept here: Core ML inputs are not Sendable).
    func prepareBenchmarkInput(rgba: [UInt8], width: Int, height: Int, question: String) throws {
        benchmarkInput = try inputs(rgba: rgba, width: width, height: height, question: question)
    }

    /// Milliseconds of each of `count` predictions of the prepared input, one after another,
    /// timed around the Core ML call alone.
    func timePredictions(_ count: Int) throws -> [Double] {
        guard let input = benchmarkInput else {
            throw EngineError.badOutput("no benchmark input was prepared")
        }
        var times: [Double] = []
        times.reserveCapacity(count)
        for _ in 0..<count {
            let start = ContinuousClock.now
            _ = try model.prediction(from: input)
            times.append(milliseconds(ContinuousClock.now - start))
        }
        return times
    }
}

/// MLMultiArray from and to Swift arrays, with the manifest's dtypes, through the arrays'
/// storage pointers (a 480 px image is 691,200 values: no NSNumber each).
enum MultiArrays {
    static func make(_ tensor: Manifest.Tensor, floats: [Float]) throws -> MLMultiArray {
        let shape = tensor.shape.map { $0.sizeAtBatchOne }
        let dataType: MLMultiArrayDataType = tensor.dtype == "float16" ? .float16 : .float32
        let array = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: dataType)
        guard array.count == floats.count else {
            throw EngineError.badOutput("\(tensor.name) holds \(array.count) values, got \(floats.count)")
        }
        if dataType == .float16 {
            array.withUnsafeMutableBufferPointer(ofType: Float16.self) { storage, strides in
                fill(storage, strides: strides, shape: shape, from: floats) { Float16($0) }
            }
        } else {
            array.withUnsafeMutableBufferPointer(ofType: Float.self) { storage, strides in
                fill(storage, strides: strides, shape: shape, from: floats) { $0 }
            }
        }
        return array
    }

    static func make(_ tensor: Manifest.Tensor, integers: [Int32]) throws -> MLMultiArray {
        guard tensor.dtype == "int32" else {
            throw EngineError.badOutput("\(tensor.name) is \(tensor.dtype); Core ML takes int32")
        }
        let shape = tensor.shape.map { $0.sizeAtBatchOne }
        let array = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .int32)
        guard array.count == integers.count else {
            throw EngineError.badOutput("\(tensor.name) holds \(array.count) values, got \(integers.count)")
        }
        array.withUnsafeMutableBufferPointer(ofType: Int32.self) { storage, strides in
            fill(storage, strides: strides, shape: shape, from: integers) { $0 }
        }
        return array
    }

    /// Row-major strides of `shape` (what a packed array has).
    static func packedStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = step
            step *= shape[d]
        }
        return strides
    }

    /// Writes `values` (row-major) into storage laid out with `strides`.
    static func fill<Stored, Value>(_ storage: UnsafeMutableBufferPointer<Stored>, strides: [Int],
                                    shape: [Int], from values: [Value],
                                    _ convert: (Value) -> Stored)
    {
        if strides == packedStrides(shape) {
            for i in 0..<values.count { storage[i] = convert(values[i]) }
            return
        }
        for (i, value) in values.enumerated() {
            storage[offset(of: i, shape: shape, strides: strides)] = convert(value)
        }
    }

    /// The storage offset of the row-major index `linear`.
    static func offset(of linear: Int, shape: [Int], strides: [Int]) -> Int {
        var rest = linear
        var offset = 0
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            offset += (rest % shape[d]) * strides[d]
            rest /= shape[d]
        }
        return offset
    }

    /// The values of an output array as Float, in row-major order.
    static func floats(_ array: MLMultiArray) -> [Float] {
        let shape = array.shape.map { $0.intValue }
        let strides = array.strides.map { $0.intValue }
        let count = array.count
        func gather<Stored>(_ storage: UnsafeBufferPointer<Stored>, _ convert: (Stored) -> Float) -> [Float] {
            return (0..<count).map { convert(storage[offset(of: $0, shape: shape, strides: strides)]) }
        }
        switch array.dataType {
        case .float32:
            return array.withUnsafeBufferPointer(ofType: Float.self) { storage in
                gather(storage) { $0 }
            }
        case .float16:
            return array.withUnsafeBufferPointer(ofType: Float16.self) { storage in
                gather(storage) { Float($0) }
            }
        case .double:
            return array.withUnsafeBufferPointer(ofType: Double.self) { storage in
                gather(storage) { Float($0) }
            }
        default:
            return (0..<count).map { array[$0].floatValue }
        }
    }
}
