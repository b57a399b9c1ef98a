import Foundation
import XCTest
@testable import VQACore

/// The image-quality check on the shared golden cases (vqa.quality.assess_image): analysis size
/// and verdict exact, figures within the file's relative tolerance.
final class ImageQualityTests: XCTestCase {
    /// The golden image with every pixel repeated `factor` times along both axes.
    private func upscaled(_ rgba: [UInt8], width: Int, height: Int, factor: Int) -> [UInt8] {
        guard factor > 1 else { return rgba }
        let outWidth = width * factor
        var out = [UInt8](repeating: 0, count: outWidth * height * factor * 4)
        for y in 0..<(height * factor) {
            for x in 0..<outWidth {
                let from = ((y / factor) * width + x / factor) * 4
                let to = (y * outWidth + x) * 4
                for c in 0..<4 { out[to + c] = rgba[from + c] }
            }
        }
        return out
    }

    private func assertClose(_ got: Double, _ want: Double, _ tolerance: Double, _ what: String) {
        XCTAssertLessThanOrEqual(abs(got - want), tolerance * max(abs(want), Double.leastNormalMagnitude),
                                 "\(what): \(got), expected \(want)")
    }

    func testGoldenCases() throws {
        let golden = try Golden.json("quality.json")
        let tolerance = Golden.double(golden["relative_tolerance"]) ?? 0
        XCTAssertGreaterThan(tolerance, 0)
        XCTAssertEqual((golden["analysis_side"] as? NSNumber)?.intValue, ImageQuality.analysisSide)
        let cases = try Golden.cases("quality.json")
        for item in cases {
            let name = item["name"] as? String ?? "?"
            let pixelsWidth = (item["pixels_width"] as? NSNumber)?.intValue ?? 0
            let pixelsHeight = (item["pixels_height"] as? NSNumber)?.intValue ?? 0
            let factor = (item["repeat"] as? NSNumber)?.intValue ?? 1
            let width = (item["width"] as? NSNumber)?.intValue ?? 0
            let height = (item["height"] as? NSNumber)?.intValue ?? 0
            XCTAssertEqual([width, height], [pixelsWidth * factor, pixelsHeight * factor], name)
            let stored = try Data(contentsOf: Golden.folder.appendingPathComponent(
                item["pixels_file"] as? String ?? ""))
            let rgba = upscaled([UInt8](stored), width: pixelsWidth, height: pixelsHeight,
                                factor: factor)
            let report = try ImageQuality.assess(rgba: rgba, width: width, height: height)
            XCTAssertEqual(report.width, (item["analysis_width"] as? NSNumber)?.intValue, name)
            XCTAssertEqual(report.height, (item["analysis_height"] as? NSNumber)?.intValue, name)
            XCTAssertEqual(report.verdict.rawValue, item["verdict"] as? String, name)
            assertClose(report.meanLuma, Golden.double(item["mean_luma"]) ?? .nan, tolerance,
                        "\(name) mean_luma")
            assertClose(report.brightFraction, Golden.double(item["bright_fraction"]) ?? .nan,
                        tolerance, "\(name) bright_fraction")
            if let expected = Golden.double(item["laplacian_var"]) {
                assertClose(report.laplacianVar ?? .nan, expected, tolerance, "\(name) laplacian_var")
            } else {
                XCTAssertNil(report.laplacianVar, name)
            }
        }
        // Every verdict is exercised by the shared cases.
        let verdicts = Set(cases.compactMap { $0["verdict"] as? String })
        XCTAssertEqual(verdicts, Set(ImageQuality.Verdict.allCases.map { $0.rawValue }))
    }

    func testAnalysisSizeByHand() {
        // The longer side becomes 256; the other is (side * 256 + longer / 2) / longer, floored:
        // (1380 * 256 + 1110) / 2220 = 159.6... -> 159.
        let cases: [(Int, Int, Int, Int)] = [
            (2220, 1380, 256, 159), (256, 10, 256, 10), (5000, 1, 256, 1), (300, 900, 85, 256),
        ]
        for (width, height, smallWidth, smallHeight) in cases {
            let size = ImageQuality.analysisSize(width: width, height: height)
            XCTAssertEqual([size.width, size.height], [smallWidth, smallHeight], "\(width) x \(height)")
        }
    }

    func testWrongPixelCountIsRefused() {
        XCTAssertThrowsError(try ImageQuality.assess(rgba: [0, 0, 0], width: 1, height: 1))
    }
}
