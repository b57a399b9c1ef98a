import Foundation

/// A bundle's manifest.json (vqa/schemas/manifest.schema.json): what the app runs, with which
/// inputs, preprocessing, tokenizer and answers. `read` checks every listed file's size and
/// sha256, as `vqa.bundle.read_bundle` does, so the app never runs a model that does not match.
/// Every file name it holds (model, tokenizer, answers, `files`) must resolve inside the bundle
/// folder, symbolic links followed, so a manifest cannot make the app open a file elsewhere.
public struct Manifest: Decodable, Sendable {
    public struct FileEntry: Decodable, Sendable {
        public let bytes: Int
        public let sha256: String
    }

    /// A tensor dimension: a number, or a name such as "batch".
    public enum Dimension: Decodable, Equatable, Sendable {
        case fixed(Int)
        case named(String)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Int.self) {
                self = .fixed(value)
            } else {
                self = .named(try container.decode(String.self))
            }
        }

        /// The size at batch 1.
        public var sizeAtBatchOne: Int {
            switch self {
            case .fixed(let value): return value
            case .named: return 1
            }
        }
    }

    public struct Tensor: Decodable, Sendable {
        public let name: String
        public let shape: [Dimension]
        public let dtype: String
    }

    public struct Preprocessing: Decodable, Sendable {
        public let imageSize: Int
        public let resize: String
        public let interpolation: String
        public let mean: [Double]
        public let std: [Double]
        public let scale: Double
        public let layout: String
        public let channelOrder: String

        enum CodingKeys: String, CodingKey {
            case resize, interpolation, mean, std, scale, layout
            case imageSize = "image_size"
            case channelOrder = "channel_order"
        }
    }

    public struct Tokenizer: Decodable, Sendable {
        public let kind: String
        public let file: String
        public let sha256: String
        public let maxLen: Int
        public let bosId: Int
        public let padId: Int
        public let eosId: Int
        public let unkId: Int
        public let idOffset: Int

        enum CodingKeys: String, CodingKey {
            case kind, file, sha256
            case maxLen = "max_len"
            case bosId = "bos_id"
            case padId = "pad_id"
            case eosId = "eos_id"
            case unkId = "unk_id"
            case idOffset = "id_offset"
        }
    }

    public struct Answers: Decodable, Sendable {
        public let file: String
        public let count: Int
        public let unanswerableIndex: Int?

        enum CodingKeys: String, CodingKey {
            case file, count
            case unanswerableIndex = "unanswerable_index"
        }
    }

    public struct Quantization: Decodable, Sendable {
        public let scheme: String
    }

    public struct Source: Decodable, Sendable {
        public let checkpoint: String
        public let sha256: String
    }

    public let schemaVersion: Int
    public let format: String
    public let precision: String
    public let quantization: Quantization
    public let target: String
    public let modelFile: String
    public let files: [String: FileEntry]
    public let inputs: [Tensor]
    public let outputs: [Tensor]
    public let preprocessing: Preprocessing
    public let tokenizer: Tokenizer
    public let answers: Answers
    public let source: Source

    /// The bundle folder the manifest was read from.
    public private(set) var folder = URL(fileURLWithPath: "/")

    // Explicit keys, no key strategy: a strategy would also rewrite the file names that are
    // the keys of `files`.
    enum CodingKeys: String, CodingKey {
        case format, precision, quantization, target, files, inputs, outputs, preprocessing
        case tokenizer, answers, source
        case schemaVersion = "schema_version"
        case modelFile = "model_file"
    }

    public static let fileName = "manifest.json"

    /// Reads and checks `folder/manifest.json` and, when `verifyFiles`, every file it lists
    /// (`digest` gives a file's sha256 hex: VQACore's own by default, the app passes CryptoKit's).
    public static func read(_ folder: URL, verifyFiles: Bool = true,
                            digest: (URL) throws -> String = { try SHA256.hex(fileAt: $0) })
        throws -> Manifest
    {
        let url = folder.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: url) else {
            throw BundleError("\(folder.path): not a bundle (no readable \(fileName))")
        }
        let decoder = JSONDecoder()
        var manifest: Manifest
        do {
            manifest = try decoder.decode(Manifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath + [key]).map { $0.stringValue }.joined(separator: ".")
            throw BundleError("\(url.path): missing field \(path)")
        } catch let DecodingError.typeMismatch(_, context) {
            let path = context.codingPath.map { $0.stringValue }.joined(separator: ".")
            throw BundleError("\(url.path): field \(path) has the wrong type")
        } catch {
            throw BundleError("\(url.path): not a valid manifest (\(error))")
        }
        manifest.folder = folder
        try manifest.check(url)
        if verifyFiles { try manifest.verifyFiles(digest: digest) }
        return manifest
    }

    private func check(_ url: URL) throws {
        guard schemaVersion == 1 else {
            throw BundleError("\(url.path): manifest schema version \(schemaVersion) is not 1")
        }
        guard inputs.count == 3, !outputs.isEmpty else {
            throw BundleError("\(url.path): expected 3 inputs and at least 1 output")
        }
        guard tokenizer.kind == "sentencepiece-fairseq" else {
            throw BundleError("\(url.path): tokenizer kind \(tokenizer.kind) is not supported")
        }
        let root = Manifest.resolvedPath(folder.absoluteURL.path)
        for (entry, name) in namedFiles {
            if let problem = Manifest.outside(root: root, folder: folder, name: name) {
                throw BundleError("\(url.path): \(entry): \(problem)")
            }
        }
        for required in [modelFile, tokenizer.file, answers.file] {
            let listed = files[required] != nil
                || files.keys.contains { $0.hasPrefix(required + "/") }
            guard listed else {
                throw BundleError("\(url.path): \(required) is not listed under 'files'")
            }
        }
    }

    /// Every file name the manifest holds, by the entry that holds it.
    var namedFiles: [(String, String)] {
        return [("model_file", modelFile), ("tokenizer.file", tokenizer.file),
                ("answers.file", answers.file)]
            + files.keys.sorted().map { ("files[\"\($0)\"]", $0) }
    }

    /// Why `name` leaves the bundle folder (empty, absolute, `..`, a link leading out), or nil.
    /// `root` is the folder's own path with its links resolved.
    static func outside(root: String?, folder: URL, name: String) -> String? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        if name.isEmpty || name.hasPrefix("/") || name.contains("\\") || parts.contains("..") {
            return "\"\(name)\" is not a path inside the bundle folder"
        }
        guard let root = root,
              let target = resolvedPath(folder.absoluteURL.appendingPathComponent(name).path)
        else {
            return "\"\(name)\" goes through a loop of symbolic links"
        }
        guard target == root || target.hasPrefix(root == "/" ? "/" : root + "/") else {
            return "\"\(name)\" leads outside the bundle folder (to \(target))"
        }
        return nil
    }

    /// An absolute path with every symbolic link resolved, component by component, and `.` and
    /// `..` applied to the resolved path (as the kernel does); parts that do not exist are kept
    /// as written. nil after 40 links (a loop). The same code on Darwin and Linux.
    static func resolvedPath(_ path: String) -> String? {
        var done: [String] = []
        var pending = path.split(separator: "/").map(String.init).reversed() as [String]
        var links = 0
        while let part = pending.popLast() {
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                if !done.isEmpty { done.removeLast() }
                continue
            }
            let candidate = "/" + (done + [part]).joined(separator: "/")
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: candidate) {
                links += 1
                if links > 40 { return nil }
                if target.hasPrefix("/") { done = [] }
                pending += target.split(separator: "/").map(String.init).reversed()
                continue
            }
            done.append(part)
        }
        return "/" + done.joined(separator: "/")
    }

    /// Checks every listed file's size and sha256 (of a link's target); the error names the file.
    public func verifyFiles(digest: (URL) throws -> String = { try SHA256.hex(fileAt: $0) }) throws {
        for name in files.keys.sorted() {
            guard let expected = files[name] else { continue }
            let url = folder.appendingPathComponent(name)
            // A link (already known to stay inside) is measured at its target, as stat does.
            let target = Manifest.resolvedPath(folder.absoluteURL.appendingPathComponent(name).path)
                ?? url.path
            let attributes = try? FileManager.default.attributesOfItem(atPath: target)
            guard let size = (attributes?[.size] as? NSNumber)?.intValue else {
                throw BundleError("\(folder.path): \(name) is listed in the manifest but missing")
            }
            guard size == expected.bytes else {
                throw BundleError("\(url.path): size \(size) bytes, the manifest says \(expected.bytes)")
            }
            let found = try digest(url)
            guard found == expected.sha256 else {
                throw BundleError("\(url.path): sha256 \(found.prefix(12)) does not match the manifest's \(expected.sha256.prefix(12))")
            }
        }
    }

    public var modelURL: URL { return folder.appendingPathComponent(modelFile) }
    public var tokenizerURL: URL { return folder.appendingPathComponent(tokenizer.file) }

    /// The answer list, one a line, checked against the manifest's count.
    public func readAnswers() throws -> [String] {
        let url = folder.appendingPathComponent(answers.file)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw BundleError("\(url.path): cannot read the answer list")
        }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        guard lines.count == answers.count else {
            throw BundleError("\(url.path): \(lines.count) answers, the manifest says \(answers.count)")
        }
        return lines
    }

    /// Input tensors by role: the manifest lists image, question ids, padding mask in order.
    public var imageInput: Tensor { return inputs[0] }
    public var questionInput: Tensor { return inputs[1] }
    public var paddingMaskInput: Tensor { return inputs[2] }
    public var logitsOutput: Tensor { return outputs[0] }
}

/// A bundle that is missing, malformed or does not match its manifest.
public struct BundleError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
