import CoreGraphics
import Foundation
import ImageIO
import UIKit

/// 8-bit RGBA pixels of an image, upright (EXIF or camera orientation applied), alpha not
/// premultiplied into the colours: what VQACore's Preprocessor takes.
struct RGBAImage {
    let pixels: [UInt8]
    let width: Int
    let height: Int

    /// Decodes a file (JPEG, PNG, HEIC) with ImageIO, applying its EXIF orientation.
    init(contentsOf url: URL) throws {
        guard let image = UIImage(contentsOfFile: url.path) else {
            throw EngineError.badOutput("\(url.lastPathComponent): not a readable image")
        }
        try self.init(image)
    }

    /// Draws the image upright into an RGBX buffer (alpha skipped, so colours stay as stored).
    init(_ image: UIImage) throws {
        let format = UIGraphicsImageRendererFormat()
        format.scale = 1
        format.opaque = true
        let size = CGSize(width: image.size.width * image.scale, height: image.size.height * image.scale)
        let upright = UIGraphicsImageRenderer(size: size, format: format).image { _ in
            image.draw(in: CGRect(origin: .zero, size: size))
        }
        guard let cgImage = upright.cgImage else {
            throw EngineError.badOutput("the image has no bitmap")
        }
        let width = cgImage.width
        let height = cgImage.height
        var buffer = [UInt8](repeating: 0, count: width * height * 4)
        let drawn: Bool = buffer.withUnsafeMutableBytes { raw in
            guard let context = CGContext(
                data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8,
                bytesPerRow: width * 4, space: CGColorSpace(name: CGColorSpace.sRGB)!,
                bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)
            else { return false }
            context.draw(cgImage, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        guard drawn else { throw EngineError.badOutput("cannot draw the image into RGBA") }
        pixels = buffer
        self.width = width
        self.height = height
    }
}
