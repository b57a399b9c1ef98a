import Foundation

/// Why to retake a photo, from its pixels alone, before the answer is trusted: too dark, too
/// bright or blurred. The same check as the host's `vqa/quality.py` (its docstring has the
/// calibration) and the Kotlin core, held to tests/golden/quality.json:
///
/// 1. RGB (alpha dropped), shrunk with PIL's bicubic filter (`Preprocessor.resizeBicubic`) so
///    that the longer side is at most `analysisSide` (each side
///    `(side * analysisSide + longer / 2) / longer`, at least 1); smaller images stay as they are.
/// 2. Luma x 1000 per pixel in integers: 299 R + 587 G + 114 B.
/// 3. Mean luma (0-255), the share of pixels with luma >= `brightLuma`, and the variance of the
///    4-neighbour Laplacian of luma over the interior pixels from exact Int64 sums (not judged
///    below `minBlurSide` pixels).
/// 4. The verdict, first match wins: too dark, too bright, blurred, ok.
public enum ImageQuality: Sendable {
    public static let analysisSide = 256
    public static let darkMeanLuma = 40.0
    public static let brightLuma: Int64 = 245
    public static let brightFraction = 0.4
    public static let blurLaplacianVar = 100.0
    public static let minBlurSide = 16

    /// In the order they are tested; the raw values are the golden vectors' names.
    public enum Verdict: String, Sendable, CaseIterable {
        case tooDark = "too_dark"
        case tooBright = "too_bright"
        case blurred
        case ok
    }

    /// The figures of the small copy (`width` x `height`); `laplacianVar` is nil for tiny images.
    public struct Report: Equatable, Sendable {
        public let verdict: Verdict
        public let meanLuma: Double
        public let brightFraction: Double
        public let laplacianVar: Double?
        public let width: Int
        public let height: Int
    }

    /// The size of the small copy: longer side `analysisSide`, or the image's own when smaller.
    public static func analysisSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let longer = max(width, height)
        guard longer > analysisSide else { return (width, height) }
        let half = longer / 2
        return (max(1, (width * analysisSide + half) / longer),
                max(1, (height * analysisSide + half) / longer))
    }

    /// The verdict of a photo given as row-major 8-bit RGBA (width * height * 4 bytes).
    public static func assess(rgba: [UInt8], width: Int, height: Int) throws -> Report {
        let rgb = try Preprocessor.rgb(fromRGBA: rgba, width: width, height: height)
        let size = analysisSize(width: width, height: height)
        let same = size.width == width && size.height == height
        let small = same ? rgb : Preprocessor.resizeBicubic(
            rgb: rgb, width: width, height: height, outWidth: size.width, outHeight: size.height)
        return assessSmall(rgb: small, width: size.width, height: size.height)
    }

    /// The verdict of interleaved 8-bit RGB that already is the small copy (the Int64 sums hold
    /// images of up to about eight million pixels).
    public static func assessSmall(rgb: [UInt8], width: Int, height: Int) -> Report {
        let n = width * height
        precondition(n > 0 && rgb.count == 3 * n, "expected \(width) x \(height) RGB pixels")
        var luma = [Int64](repeating: 0, count: n)
        var sum: Int64 = 0
        var bright = 0
        for i in 0..<n {
            let value = 299 * Int64(rgb[3 * i]) + 587 * Int64(rgb[3 * i + 1])
                + 114 * Int64(rgb[3 * i + 2])
            luma[i] = value
            sum += value
            if value >= brightLuma * 1000 { bright += 1 }
        }
        let meanLuma = Double(sum) / (1000.0 * Double(n))
        let brightShare = Double(bright) / Double(n)
        var laplacianVar: Double? = nil
        if min(width, height) >= minBlurSide {
            var total: Int64 = 0
            var squares: Int64 = 0
            for y in 1..<(height - 1) {
                for x in 1..<(width - 1) {
                    let i = y * width + x
                    let lap = 4 * luma[i] - luma[i - width] - luma[i + width] - luma[i - 1]
                        - luma[i + 1]
                    total += lap
                    squares += lap * lap
                }
            }
            let count = Double((width - 2) * (height - 2))
            let mean = Double(total) / count
            laplacianVar = (Double(squares) / count - mean * mean) / 1e6
        }
        let verdict: Verdict
        if meanLuma < darkMeanLuma {
            verdict = .tooDark
        } else if brightShare >= brightFraction {
            verdict = .tooBright
        } else if let variance = laplacianVar, variance < blurLaplacianVar {
            verdict = .blurred
        } else {
            verdict = .ok
        }
        return Report(verdict: verdict, meanLuma: meanLuma, brightFraction: brightShare,
                      laplacianVar: laplacianVar, width: width, height: height)
    }
}
