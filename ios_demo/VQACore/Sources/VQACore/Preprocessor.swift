import Foundation

/// Why an image cannot be preprocessed.
public enum PreprocessingError: Error, Equatable, CustomStringConvertible, Sendable {
    case badPixels(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .badPixels(let why): return "bad pixels: \(why)"
        case .unsupported(let why): return "unsupported preprocessing: \(why)"
        }
    }
}

/// The model's image input from 8-bit RGBA pixels, exactly as the host's
/// `vqa.transforms.eval_transform` makes it: alpha dropped, bicubic squash to S x S by PIL's
/// algorithm (Resample.c: the filter's support widened by the scale when downscaling, 22-bit
/// fixed-point weights, two passes in Pillow 13's order, each rounded and clipped to uint8),
/// then x * scale, - mean, / std in float32, laid out NCHW.
public struct Preprocessor: Sendable {
    public let imageSize: Int
    public let mean: [Float]
    public let std: [Float]
    public let scale: Float

    static let precisionBits = 32 - 8 - 2
    static let bicubicSupport = 2.0

    public init(_ spec: Manifest.Preprocessing) throws {
        guard spec.resize == "squash", spec.interpolation == "bicubic", spec.layout == "NCHW",
              spec.channelOrder == "RGB"
        else {
            throw PreprocessingError.unsupported(
                "\(spec.resize)/\(spec.interpolation)/\(spec.layout)/\(spec.channelOrder)")
        }
        self.init(imageSize: spec.imageSize, mean: spec.mean, std: spec.std, scale: spec.scale)
    }

    public init(imageSize: Int, mean: [Double], std: [Double], scale: Double = 1.0 / 255.0) {
        self.imageSize = imageSize
        self.mean = mean.map { Float($0) }
        self.std = std.map { Float($0) }
        self.scale = Float(scale)
    }

    /// NCHW floats, 3 * S * S of them, from row-major RGBA bytes (width * height * 4).
    public func process(rgba: [UInt8], width: Int, height: Int) throws -> [Float] {
        let rgb = try Preprocessor.rgb(fromRGBA: rgba, width: width, height: height)
        let resized = Preprocessor.resizeBicubic(rgb: rgb, width: width, height: height,
                                                 outWidth: imageSize, outHeight: imageSize)
        let plane = imageSize * imageSize
        var values = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            for p in 0..<plane {
                let x = Float(resized[3 * p + c]) * scale
                values[c * plane + p] = (x - mean[c]) / std[c]
            }
        }
        return values
    }

    /// Interleaved 8-bit RGB from row-major RGBA (alpha dropped, as PIL's convert("RGB")).
    public static func rgb(fromRGBA rgba: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        guard width > 0, height > 0 else {
            throw PreprocessingError.badPixels("image of \(width) x \(height) pixels")
        }
        guard rgba.count == width * height * 4 else {
            throw PreprocessingError.badPixels(
                "\(rgba.count) bytes for \(width) x \(height) RGBA (expected \(width * height * 4))")
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            rgb[3 * i] = rgba[4 * i]
            rgb[3 * i + 1] = rgba[4 * i + 1]
            rgb[3 * i + 2] = rgba[4 * i + 2]
        }
        return rgb
    }

    /// The 8-bit RGB image (interleaved) resized with PIL's bicubic filter. Like Pillow 13, the
    /// vertical pass runs first when the height shrinks by more than twice what the width
    /// shrinks by; otherwise the horizontal pass runs first. The order changes the uint8
    /// rounding between the passes, so it is part of the result.
    public static func resizeBicubic(rgb: [UInt8], width: Int, height: Int,
                                     outWidth: Int, outHeight: Int) -> [UInt8]
    {
        let verticalFirst = height - outHeight > 0 && height - outHeight > (width - outWidth) * 2
        if verticalFirst {
            let tall = outHeight != height
                ? resizeVertical(rgb, width: width, height: height, outHeight: outHeight) : rgb
            return outWidth != width
                ? resizeHorizontal(tall, width: width, height: outHeight, outWidth: outWidth) : tall
        }
        let wide = outWidth != width
            ? resizeHorizontal(rgb, width: width, height: height, outWidth: outWidth) : rgb
        return outHeight != height
            ? resizeVertical(wide, width: outWidth, height: height, outHeight: outHeight) : wide
    }

    static func resizeHorizontal(_ image: [UInt8], width: Int, height: Int, outWidth: Int)
        -> [UInt8]
    {
        let coeffs = coefficients(inSize: width, outSize: outWidth)
        var out = [UInt8](repeating: 0, count: outWidth * height * 3)
        for y in 0..<height {
            for xx in 0..<outWidth {
                let first = coeffs.bounds[2 * xx]
                let count = coeffs.bounds[2 * xx + 1]
                let k = xx * coeffs.ksize
                for c in 0..<3 {
                    var sum = 1 << (precisionBits - 1)
                    var x = 0
                    while x < count {
                        sum += Int(image[(y * width + first + x) * 3 + c]) * coeffs.weights[k + x]
                        x += 1
                    }
                    out[(y * outWidth + xx) * 3 + c] = clip8(sum)
                }
            }
        }
        return out
    }

    static func resizeVertical(_ image: [UInt8], width: Int, height: Int, outHeight: Int)
        -> [UInt8]
    {
        let coeffs = coefficients(inSize: height, outSize: outHeight)
        var out = [UInt8](repeating: 0, count: width * outHeight * 3)
        for yy in 0..<outHeight {
            let first = coeffs.bounds[2 * yy]
            let count = coeffs.bounds[2 * yy + 1]
            let k = yy * coeffs.ksize
            for x in 0..<width {
                for c in 0..<3 {
                    var sum = 1 << (precisionBits - 1)
                    var y = 0
                    while y < count {
                        sum += Int(image[((first + y) * width + x) * 3 + c]) * coeffs.weights[k + y]
                        y += 1
                    }
                    out[(yy * width + x) * 3 + c] = clip8(sum)
                }
            }
        }
        return out
    }

    static func clip8(_ sum: Int) -> UInt8 {
        let value = sum >> precisionBits
        if value < 0 { return 0 }
        if value > 255 { return 255 }
        return UInt8(value)
    }

    static func bicubic(_ t: Double) -> Double {
        let a = -0.5
        let x = t < 0 ? -t : t
        if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
        if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0.0
    }

    /// Per output pixel: the first input pixel, how many are used, and their fixed-point weights
    /// (precompute_coeffs + normalize_coeffs_8bpc).
    static func coefficients(inSize: Int, outSize: Int)
        -> (ksize: Int, bounds: [Int], weights: [Int])
    {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = bicubicSupport * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        let inverseFilterScale = 1.0 / filterScale
        var bounds = [Int](repeating: 0, count: 2 * outSize)
        var weights = [Int](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            var first = Int(center - support + 0.5)
            if first < 0 { first = 0 }
            var last = Int(center + support + 0.5)
            if last > inSize { last = inSize }
            let count = max(0, min(last - first, ksize))
            var total = 0.0
            for x in 0..<ksize { k[x] = 0 }
            var x = 0
            while x < count {
                let w = bicubic((Double(x + first) - center + 0.5) * inverseFilterScale)
                k[x] = w
                total += w
                x += 1
            }
            if total != 0.0 {
                x = 0
                while x < count {
                    k[x] /= total
                    x += 1
                }
            }
            let unit = Double(1 << precisionBits)
            for x in 0..<ksize {
                weights[xx * ksize + x] = k[x] < 0 ? Int(-0.5 + k[x] * unit) : Int(0.5 + k[x] * unit)
            }
            bounds[2 * xx] = first
            bounds[2 * xx + 1] = count
        }
        return (ksize, bounds, weights)
    }
}
