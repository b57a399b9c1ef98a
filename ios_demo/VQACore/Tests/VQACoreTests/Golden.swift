import Foundation
import XCTest
@testable import VQACore

/// The shared golden vectors (tests/golden, written from the Python implementation by
/// scripts/write_golden_vectors.py): the folder comes from VQA_GOLDEN_DIR, or else the
/// repository's tests/golden found from this file's path.
enum Golden {
    static var folder: URL {
        if let path = ProcessInfo.processInfo.environment["VQA_GOLDEN_DIR"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // VQACoreTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // VQACore
            .deletingLastPathComponent()  // ios_demo
            .deletingLastPathComponent()  // repository
            .appendingPathComponent("tests/golden")
    }

    static func json(_ name: String) throws -> [String: Any] {
        let url = folder.appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BundleError("\(url.path): not a JSON object")
        }
        return object
    }

    static func cases(_ name: String) throws -> [[String: Any]] {
        guard let cases = try json(name)["cases"] as? [[String: Any]], !cases.isEmpty else {
            throw BundleError("\(name): no cases")
        }
        return cases
    }

    static func ints(_ value: Any?) -> [Int] {
        return (value as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.intValue }
    }

    static func doubles(_ value: Any?) -> [Double] {
        return (value as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.doubleValue }
    }

    static func double(_ value: Any?) -> Double? {
        return (value as? NSNumber)?.doubleValue
    }
}
