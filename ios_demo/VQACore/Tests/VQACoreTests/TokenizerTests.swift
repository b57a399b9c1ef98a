import Foundation
import XCTest
@testable import VQACore

/// Token ids exactly as vqa.tokenizer.Tokenizer gives them, on every golden question.
final class TokenizerTests: XCTestCase {
    private func check(_ fileName: String, model: Data) throws {
        let golden = try Golden.json(fileName)
        let maxLen = (golden["max_len"] as? NSNumber)?.intValue ?? 16
        let tokenizer = try SentencePieceTokenizer(modelBytes: model)
        let cases = try Golden.cases(fileName)
        for item in cases {
            let text = item["text"] as? String ?? ""
            XCTAssertEqual(tokenizer.tokenIds(text), Golden.ints(item["pieces_ids"]),
                           "pieces of \(text.debugDescription)")
            if item["error"] as? String == "empty" {
                XCTAssertThrowsError(try tokenizer.encode(text, maxLen: maxLen)) { error in
                    XCTAssertEqual(error as? TokenizerError, .empty(text))
                }
            } else {
                let encoded = try tokenizer.encode(text, maxLen: maxLen)
                XCTAssertEqual(encoded.ids.map { Int($0) }, Golden.ints(item["ids"]),
                               "ids of \(text.debugDescription)")
                XCTAssertEqual(encoded.paddingMask.map { Int($0) }, Golden.ints(item["padding_mask"]),
                               "mask of \(text.debugDescription)")
            }
        }
    }

    func testSmallModelMatchesGoldenIds() throws {
        let golden = try Golden.json("tokens_small.json")
        let file = Golden.folder.appendingPathComponent(golden["spm_file"] as? String ?? "")
        try check("tokens_small.json", model: try Data(contentsOf: file))
    }

    func testBEiT3ModelMatchesGoldenIds() throws {
        guard let path = ProcessInfo.processInfo.environment["BEIT3_SPM"], !path.isEmpty,
              FileManager.default.fileExists(atPath: path)
        else {
            throw XCTSkip("BEIT3_SPM does not point at the real BEiT-3 tokenizer (beit3.spm)")
        }
        let model = try Data(contentsOf: URL(fileURLWithPath: path))
        let golden = try Golden.json("tokens_beit3.json")
        XCTAssertEqual(SHA256.hex(model), golden["spm_sha256"] as? String,
                       "BEIT3_SPM is not the model the golden ids were written from")
        try check("tokens_beit3.json", model: model)
    }

    func testBadModelsAndLengthsAreRefused() throws {
        XCTAssertThrowsError(try SentencePieceTokenizer(modelBytes: Data()))
        XCTAssertThrowsError(try SentencePieceTokenizer(modelBytes: Data([0xFF, 0xFF, 0xFF])))
        let golden = try Golden.json("tokens_small.json")
        let file = Golden.folder.appendingPathComponent(golden["spm_file"] as? String ?? "")
        let tokenizer = try SentencePieceTokenizer(modelBytes: try Data(contentsOf: file))
        XCTAssertThrowsError(try tokenizer.encode("what shape", maxLen: 2)) { error in
            XCTAssertEqual(error as? TokenizerError, .badMaxLength(2))
        }
    }
}
