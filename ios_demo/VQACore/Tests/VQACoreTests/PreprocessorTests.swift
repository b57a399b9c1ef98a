import Foundation
import XCTest
@testable import VQACore

/// Image tensors as vqa.transforms.eval_transform makes them, within the golden tolerance.
final class PreprocessorTests: XCTestCase {
    func testGoldenImages() throws {
        let golden = try Golden.json("preprocess.json")
        let tolerance = Golden.double(golden["tolerance"]) ?? 0
        XCTAssertGreaterThan(tolerance, 0)
        for item in try Golden.cases("preprocess.json") {
            let name = item["name"] as? String ?? "?"
            let width = (item["width"] as? NSNumber)?.intValue ?? 0
            let height = (item["height"] as? NSNumber)?.intValue ?? 0
            let size = (item["image_size"] as? NSNumber)?.intValue ?? 0
            let pixels = try Data(contentsOf: Golden.folder.appendingPathComponent(
                item["pixels_file"] as? String ?? ""))
            let preprocessor = Preprocessor(imageSize: size, mean: Golden.doubles(item["mean"]),
                                            std: Golden.doubles(item["std"]))
            let values = try preprocessor.process(rgba: [UInt8](pixels), width: width, height: height)
            let expected = Golden.doubles(item["values"])
            XCTAssertEqual(Golden.ints(item["shape"]), [1, 3, size, size], name)
            XCTAssertEqual(values.count, expected.count, name)
            var worst = 0.0
            for (got, want) in zip(values, expected) { worst = max(worst, abs(Double(got) - want)) }
            XCTAssertLessThanOrEqual(worst, tolerance, "\(name): max |difference| \(worst)")
        }
    }

    func testWrongPixelCountIsRefused() {
        let preprocessor = Preprocessor(imageSize: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        XCTAssertThrowsError(try preprocessor.process(rgba: [0, 0, 0], width: 1, height: 1))
    }
}
