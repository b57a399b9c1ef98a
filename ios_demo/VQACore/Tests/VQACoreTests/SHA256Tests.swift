import Foundation
import XCTest
@testable import VQACore

/// Test vectors of FIPS 180-4 (NIST's SHA-256 examples) and of the empty message.
final class SHA256Tests: XCTestCase {
    func testFIPSExamples() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(Data()),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testOneMillionAInPieces() {
        var hasher = SHA256()
        let chunk = Data(repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        XCTAssertEqual(hasher.finalizeHex(),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testGoldenTokenizerFileHashesAsPythonSays() throws {
        let tokens = try Golden.json("tokens_small.json")
        let file = Golden.folder.appendingPathComponent(tokens["spm_file"] as? String ?? "")
        XCTAssertEqual(try SHA256.hex(fileAt: file), tokens["spm_sha256"] as? String)
    }
}
