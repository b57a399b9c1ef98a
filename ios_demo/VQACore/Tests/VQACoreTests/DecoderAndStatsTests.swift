import Foundation
import XCTest
@testable import VQACore

final class AnswerDecoderTests: XCTestCase {
    func testGoldenDecoding() throws {
        let golden = try Golden.json("decode.json")
        let answers = golden["answers"] as? [String] ?? []
        let tolerance = Golden.double(golden["answerable_tolerance"]) ?? 0
        for item in try Golden.cases("decode.json") {
            let unanswerable = (item["unanswerable_index"] as? NSNumber)?.intValue
            let decoder = AnswerDecoder(answers: answers, unanswerableIndex: unanswerable)
            let logits = Golden.doubles(item["logits"]).map { Float($0) }
            let decoded = try decoder.decode(logits, topK: 5)
            XCTAssertEqual(decoded.answer, item["answer"] as? String)
            XCTAssertEqual(decoded.index, (item["index"] as? NSNumber)?.intValue)
            let top = item["top5"] as? [[String: Any]] ?? []
            XCTAssertEqual(decoded.top.map { $0.index }, top.map { ($0["index"] as? NSNumber)?.intValue ?? -1 })
            XCTAssertEqual(decoded.top.map { $0.answer }, top.map { $0["answer"] as? String ?? "" })
            XCTAssertEqual(decoded.top.map { Double($0.score) }, top.map { Golden.double($0["score"]) ?? .nan })
            if let expected = Golden.double(item["answerable"]) {
                XCTAssertEqual(decoded.answerable ?? .nan, expected, accuracy: tolerance)
            } else {
                XCTAssertNil(decoded.answerable)
            }
        }
    }
}

final class LatencyStatsTests: XCTestCase {
    func testGoldenStatistics() throws {
        for item in try Golden.cases("stats.json") {
            let samples = Golden.doubles(item["samples_ms"])
            guard let stats = LatencyStats.summarize(samples) else {
                return XCTFail("no statistics for \(samples.count) samples")
            }
            let pairs: [(String, Double)] = [
                ("mean", stats.mean), ("p50", stats.p50), ("p90", stats.p90), ("p99", stats.p99),
                ("std", stats.std), ("trimmed_mean", stats.trimmedMean), ("min", stats.min),
                ("max", stats.max),
            ]
            for (key, value) in pairs {
                let expected = Golden.double(item[key]) ?? .nan
                XCTAssertEqual(value, expected, accuracy: 1e-9 * max(1.0, abs(expected)),
                               "\(key) of \(samples.count) samples")
            }
        }
        XCTAssertNil(LatencyStats.summarize([]))
    }
}
