import CoreML
import CryptoKit
import Foundation
import VQACore

/// A bundle's files are hashed once per manifest content, with CryptoKit: the next launch (or
/// Settings' Done) only compares sizes and modification dates with what was verified.
enum VerifiedBundles {
    private static let defaultsKey = "verifiedBundles"

    /// Checks every file the manifest lists (size and sha256) unless this very bundle content was
    /// checked before. Throws the manifest's BundleError naming the file.
    static func verify(_ manifest: Manifest) throws {
        let fingerprint = try self.fingerprint(manifest)
        let path = manifest.folder.standardizedFileURL.path
        let verified = UserDefaults.standard.dictionary(forKey: defaultsKey) as? [String: String] ?? [:]
        if verified[path] == fingerprint { return }
        try manifest.verifyFiles(digest: sha256Hex(fileAt:))
        var updated = verified
        updated[path] = fingerprint
        UserDefaults.standard.set(updated, forKey: defaultsKey)
    }

    /// The manifest's own sha256 and every listed file's size and modification time.
    static func fingerprint(_ manifest: Manifest) throws -> String {
        let manifestBytes = try Data(contentsOf: manifest.folder.appendingPathComponent(Manifest.fileName))
        var parts = [hex(CryptoKit.SHA256.hash(data: manifestBytes))]
        for name in manifest.files.keys.sorted() {
            let attributes = try? FileManager.default.attributesOfItem(
                atPath: manifest.folder.appendingPathComponent(name).path)
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
            parts.append("\(name):\(size):\(modified)")
        }
        return parts.joined(separator: "\n")
    }

    /// A file's sha256 in hex, read in 1 MiB blocks (bundles hold files of hundreds of MB).
    static func sha256Hex(fileAt url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = CryptoKit.SHA256()
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
            hasher.update(data: block)
        }
        return hex(hasher.finalize())
    }

    private static func hex(_ digest: CryptoKit.SHA256.Digest) -> String {
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// Compiles a bundle's .mlpackage once and keeps the .mlmodelc in Caches (not backed up; the
/// system may purge it, then it is compiled again), keyed by the sha256 of the package's files.
/// The most recently used entries are kept; older ones are removed.
enum CompiledModelCache {
    static let keep = 3

    struct Entry: Sendable {
        let url: URL
        /// Milliseconds `MLModel.compileModel` took, nil when the entry came from the cache.
        let compileMs: Double?
    }

    static func key(for manifest: Manifest) -> String {
        let prefix = manifest.modelFile + "/"
        let parts = manifest.files.keys.sorted()
            .filter { $0 == manifest.modelFile || $0.hasPrefix(prefix) }
            .map { "\($0):\(manifest.files[$0]?.sha256 ?? "")" }
        return VQACore.SHA256.hex(Data(parts.joined(separator: "\n").utf8))
    }

    static var folder: URL {
        get throws {
            let caches = try FileManager.default.url(for: .cachesDirectory, in: .userDomainMask,
                                                     appropriateFor: nil, create: true)
            return caches.appendingPathComponent("CompiledModels", isDirectory: true)
        }
    }

    static func compiledModel(for manifest: Manifest) async throws -> Entry {
        let folder = try self.folder
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let cached = folder.appendingPathComponent("\(key(for: manifest)).mlmodelc")
        var compileMs: Double? = nil
        if !FileManager.default.fileExists(atPath: cached.path) {
            let start = ContinuousClock.now
            let compiled = try await MLModel.compileModel(at: manifest.modelURL)
            compileMs = milliseconds(ContinuousClock.now - start)
            try? FileManager.default.removeItem(at: cached)
            try FileManager.default.moveItem(at: compiled, to: cached)
        }
        // The modification date marks the last use; pruning keeps the newest.
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: cached.path)
        prune(folder, keeping: cached)
        return Entry(url: cached, compileMs: compileMs)
    }

    /// Removes all but the `keep` most recently used compiled models (never `current`).
    static func prune(_ folder: URL, keeping current: URL) {
        let entries = (try? FileManager.default.contentsOfDirectory(
            at: folder, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        let byUse = entries
            .filter { $0.pathExtension == "mlmodelc" }
            .map { url -> (URL, Date) in
                let date = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?
                    .contentModificationDate ?? .distantPast
                return (url, date)
            }
            .sorted { $0.1 > $1.1 }
        for (url, _) in byUse.dropFirst(keep) where url.lastPathComponent != current.lastPathComponent {
            try? FileManager.default.removeItem(at: url)
        }
    }
}

/// Milliseconds in a Duration (ContinuousClock measurements).
func milliseconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15
}
