import Foundation
import XCTest
@testable import VQACore

/// A small bundle whose hashes come from elsewhere: the golden tokenizer's sha256 written by
/// Python, and FIPS 180-4's digests of "abc" and of the empty message.
enum TestBundle {
    static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func make() throws -> URL {
        let golden = try Golden.json("tokens_small.json")
        let spm = Golden.folder.appendingPathComponent(golden["spm_file"] as? String ?? "")
        let spmBytes = try Data(contentsOf: spm)
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("vqacore-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("model.mlpackage"),
                                                withIntermediateDirectories: true)
        try spmBytes.write(to: folder.appendingPathComponent("tokenizer.spm"))
        try Data("abc".utf8).write(to: folder.appendingPathComponent("answers.txt"))
        try Data().write(to: folder.appendingPathComponent("model.mlpackage/weight.bin"))
        let manifest = """
        {"schema_version": 1, "format": "coreml", "precision": "int8",
         "quantization": {"scheme": "weight-int8"}, "target": "arm64",
         "model_file": "model.mlpackage",
         "files": {"tokenizer.spm": {"bytes": \(spmBytes.count), "sha256": "\(golden["spm_sha256"] as? String ?? "")"},
                   "answers.txt": {"bytes": 3, "sha256": "\(abc)"},
                   "model.mlpackage/weight.bin": {"bytes": 0, "sha256": "\(empty)"}},
         "inputs": [{"name": "image", "shape": [1, 3, 32, 32], "dtype": "float32"},
                    {"name": "question", "shape": [1, 16], "dtype": "int32"},
                    {"name": "padding_mask", "shape": [1, 16], "dtype": "int32"}],
         "outputs": [{"name": "logits", "shape": [1, 1], "dtype": "float32"}],
         "preprocessing": {"image_size": 32, "resize": "squash", "interpolation": "bicubic",
                           "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "scale": 0.00392156862745098,
                           "layout": "NCHW", "channel_order": "RGB"},
         "tokenizer": {"kind": "sentencepiece-fairseq", "file": "tokenizer.spm", "sha256": "\(golden["spm_sha256"] as? String ?? "")",
                       "max_len": 16, "bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3, "id_offset": 1},
         "answers": {"file": "answers.txt", "count": 1, "unanswerable_index": null},
         "postprocessing": {"answer": "argmax", "answerable": "none"},
         "source": {"checkpoint": "student.pth", "sha256": "\(abc)", "config": {}},
         "parity": {"status": "pending-macos", "reference": "pytorch-fp32", "n_inputs": 0},
         "created": "2026-11-29T00:00:00+00:00"}
        """
        try Data(manifest.utf8).write(to: folder.appendingPathComponent("manifest.json"))
        return folder
    }
}

/// Manifest reading and file checks on `TestBundle`.
final class ManifestTests: XCTestCase {
    private func makeBundle() throws -> URL {
        return try TestBundle.make()
    }

    func testReadsAndVerifiesABundle() throws {
        let folder = try makeBundle()
        let manifest = try Manifest.read(folder)
        XCTAssertEqual(manifest.questionInput.name, "question")
        XCTAssertEqual(manifest.questionInput.dtype, "int32")
        XCTAssertEqual(manifest.imageInput.shape, [.fixed(1), .fixed(3), .fixed(32), .fixed(32)])
        XCTAssertEqual(try manifest.readAnswers(), ["abc"])
        XCTAssertNil(manifest.answers.unanswerableIndex)
        XCTAssertNoThrow(try Preprocessor(manifest.preprocessing))
    }

    func testAChangedFileIsNamed() throws {
        let folder = try makeBundle()
        try Data("abd".utf8).write(to: folder.appendingPathComponent("answers.txt"))
        XCTAssertThrowsError(try Manifest.read(folder)) { error in
            XCTAssertTrue("\(error)".contains("answers.txt"), "\(error)")
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer.spm"))
        XCTAssertThrowsError(try Manifest.read(folder)) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.spm"), "\(error)")
        }
        XCTAssertNoThrow(try Manifest.read(folder, verifyFiles: false))
        // The digest the caller passes (the app passes CryptoKit's) is the one compared.
        let bundle = try makeBundle()
        XCTAssertThrowsError(try Manifest.read(bundle, digest: { _ in String(repeating: "0", count: 64) }))
        XCTAssertNoThrow(try Manifest.read(bundle, digest: { try SHA256.hex(fileAt: $0) }))
    }
}

/// Every file name a manifest holds must resolve inside the bundle folder, links followed.
final class BundleContainmentTests: XCTestCase {
    private func bundle() throws -> URL {
        return try TestBundle.make()
    }

    /// Rewrites the manifest text of `folder`, replacing `old` by `new` once.
    private func edit(_ folder: URL, _ old: String, _ new: String) throws {
        let url = folder.appendingPathComponent("manifest.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.contains(old), old)
        try Data(text.replacingOccurrences(of: old, with: new).utf8).write(to: url)
    }

    private func assertRefused(_ folder: URL, naming entry: String, _ why: String,
                               file: StaticString = #filePath, line: UInt = #line)
    {
        XCTAssertThrowsError(try Manifest.read(folder, verifyFiles: false), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(entry) && text.contains(why), text, file: file, line: line)
        }
    }

    func testDotDotAndAbsoluteNamesAreRefused() throws {
        let up = try bundle()
        try edit(up, #""file": "answers.txt""#, #""file": "../answers.txt""#)
        assertRefused(up, naming: "answers.file", "not a path inside the bundle folder")

        let absolute = try bundle()
        try edit(absolute, #""model.mlpackage/weight.bin": {"#, #""/etc/hosts": {"#)
        assertRefused(absolute, naming: #"files["/etc/hosts"]"#, "not a path inside the bundle folder")

        let inner = try bundle()
        try edit(inner, #""model_file": "model.mlpackage""#, #""model_file": "model.mlpackage/../../x""#)
        assertRefused(inner, naming: "model_file", "not a path inside the bundle folder")
    }

    func testALinkLeadingOutsideIsRefused() throws {
        let folder = try bundle()
        let elsewhere = FileManager.default.temporaryDirectory
            .appendingPathComponent("vqacore-elsewhere-\(UUID().uuidString).spm")
        let tokenizer = folder.appendingPathComponent("tokenizer.spm")
        try FileManager.default.moveItem(at: tokenizer, to: elsewhere)
        try FileManager.default.createSymbolicLink(at: tokenizer, withDestinationURL: elsewhere)
        assertRefused(folder, naming: "tokenizer.file", "leads outside the bundle folder")

        // A relative link that climbs out is refused as well.
        try FileManager.default.removeItem(at: tokenizer)
        try FileManager.default.createSymbolicLink(
            atPath: tokenizer.path, withDestinationPath: "../" + elsewhere.lastPathComponent)
        assertRefused(folder, naming: "tokenizer.file", "leads outside the bundle folder")
    }

    func testLinksThatStayInsideAreAccepted() throws {
        let folder = try bundle()
        // answers.txt -> data/answers.txt, inside the bundle.
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let answers = folder.appendingPathComponent("answers.txt")
        try FileManager.default.moveItem(at: answers, to: data.appendingPathComponent("answers.txt"))
        try FileManager.default.createSymbolicLink(atPath: answers.path,
                                                   withDestinationPath: "data/answers.txt")
        XCTAssertNoThrow(try Manifest.read(folder))
        // The bundle itself reached through a link: names are judged against the real folder.
        let alias = FileManager.default.temporaryDirectory
            .appendingPathComponent("vqacore-alias-\(UUID().uuidString)")
        try FileManager.default.createSymbolicLink(at: alias, withDestinationURL: folder)
        XCTAssertNoThrow(try Manifest.read(alias))
    }

    func testALinkLoopIsRefused() throws {
        let folder = try bundle()
        let answers = folder.appendingPathComponent("answers.txt")
        try FileManager.default.removeItem(at: answers)
        try FileManager.default.createSymbolicLink(atPath: answers.path, withDestinationPath: "answers.txt")
        assertRefused(folder, naming: "answers.file", "loop of symbolic links")
    }
}

final class ResultRowTests: XCTestCase {
    func testRowHasTheSchemaKeysAndWritesAtomically() throws {
        var row = ResultRow(label: "student-coreml-int8", format: "coreml", precision: "int8",
                            deviceName: "iPhone16,1", osName: "iOS 18.1")
        row.latency = LatencyStats.summarize([40.0, 41.0, 42.0])
        row.loadMs = 412.0
        row.firstInferenceMs = 95.1
        row.warmup = 2
        row.computeUnits = "all"
        row.peakMemoryBytes = 301_989_888
        row.thermalStart = "nominal"
        row.thermalEnd = "fair"
        row.compileMs = 1830.5
        row.compiledModelCached = false
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("row-\(UUID().uuidString).json")
        try row.write(to: url)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        for key in ["schema_version", "created", "status", "source", "label", "format", "precision",
                    "device", "threads", "latency_ms", "memory"] {
            XCTAssertNotNil(object?[key], key)
        }
        XCTAssertTrue(object?["threads"] is NSNull)
        XCTAssertEqual(object?["source"] as? String, "ios-app")
        let latency = object?["latency_ms"] as? [String: Any]
        XCTAssertEqual((latency?["p50"] as? NSNumber)?.doubleValue, 41.0)
        XCTAssertEqual((latency?["runs"] as? NSNumber)?.intValue, 3)
        XCTAssertEqual(object?["thermal_start"] as? String, "nominal")
        XCTAssertEqual(object?["thermal_end"] as? String, "fair")
        let details = (object?["runtime"] as? [String: Any])?["details"] as? [String: Any]
        XCTAssertEqual((details?["compile_ms"] as? NSNumber)?.doubleValue, 1830.5)
        XCTAssertEqual(details?["compiled_model_cached"] as? Bool, false)
        XCTAssertEqual(details?["compute_units"] as? String, "all")
    }
}

/// The accuracy mode's files: a samples folder as `python -m benchmark samples` writes it, and
/// the predictions file `python -m benchmark ingest --predictions` reads.
final class AccuracyFilesTests: XCTestCase {
    func testReadsASamplesFolderAndWritesPredictions() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("samples-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let index = """
        {"format": "vqa-samples", "version": 1, "data": "easy-vqa", "split": "test", "n": 1,
         "samples": [{"key": "easyvqa_test_000000", "image": "images/0.png",
                      "question": "What color is the shape?"}]}
        """
        try Data(index.utf8).write(to: folder.appendingPathComponent("samples.json"))
        let samples = try SamplesFolder(folder)
        XCTAssertEqual(samples.data, "easy-vqa")
        XCTAssertEqual(samples.split, "test")
        XCTAssertEqual(samples.samples.map { $0.key }, ["easyvqa_test_000000"])
        XCTAssertEqual(samples.samples[0].image.lastPathComponent, "0.png")
        XCTAssertEqual(samples.samples[0].question, "What color is the shape?")

        let decoder = AnswerDecoder(answers: ["red", "unanswerable"], unanswerableIndex: 1)
        var writer = PredictionsWriter()
        writer.add(key: "easyvqa_test_000000", decoded: try decoder.decode([2.0, 0.0]))
        let url = folder.appendingPathComponent("predictions.json")
        try writer.write(to: url)
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]]
        XCTAssertEqual(written?.count, 1)
        XCTAssertEqual(written?[0]["image"] as? String, "easyvqa_test_000000")
        XCTAssertEqual(written?[0]["answer"] as? String, "red")
        // 1 - sigmoid(0) = 0.5
        XCTAssertEqual((written?[0]["answerable"] as? NSNumber)?.doubleValue ?? -1, 0.5, accuracy: 1e-12)
    }

    func testAFolderWithoutAnIndexIsRefused() {
        XCTAssertThrowsError(try SamplesFolder(FileManager.default.temporaryDirectory
            .appendingPathComponent("no-such-samples-\(UUID().uuidString)")))
    }
}
