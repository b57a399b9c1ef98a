import CoreGraphics
import Foundation
import ImageIO

/// 8-bit RGBA pixels of an image (the fourth byte unused): what VQACore's Preprocessor and
/// ImageQuality take. Plain data, made off the main actor.
struct RGBAImage: Sendable {
    let pixels: [UInt8]
    let width: Int
    let height: Int

    /// A sample file decoded as the host's `vqa.data.load_image` decodes it: the stored pixel
    /// order (no EXIF rotation) and no colour conversion (drawn in the image's own RGB colour
    /// space). JPEG decoders may still differ from libjpeg by a level here and there, and an
    /// image with transparency is composited over black where PIL drops the alpha.
    init(contentsOf url: URL) throws {
        guard let source = CGImageSourceCreateWithURL(url as CFURL, nil),
              let image = CGImageSourceCreateImageAtIndex(source, 0, nil)
        else {
            throw EngineError.badOutput("\(url.lastPathComponent): not a readable image")
        }
        let space = image.colorSpace?.model == .rgb ? image.colorSpace : nil
        try self.init(image, colorSpace: space)
    }

    /// A camera photo (the capture's HEIC or JPEG data) upright, its EXIF orientation applied,
    /// and shrunk by ImageIO so that the longer side is at most `maxSide` pixels, in sRGB. A
    /// 12 MP photo is never drawn at full size.
    init(photo data: Data, maxSide: Int) throws {
        let options = [
            kCGImageSourceCreateThumbnailFromImageAlways: true,
            kCGImageSourceCreateThumbnailWithTransform: true,
            kCGImageSourceShouldCacheImmediately: true,
            kCGImageSourceThumbnailMaxPixelSize: maxSide,
        ] as CFDictionary
        guard let source = CGImageSourceCreateWithData(data as CFData, nil),
              let image = CGImageSourceCreateThumbnailAtIndex(source, 0, options)
        else {
            throw EngineError.badOutput("the camera's photo cannot be decoded")
        }
        try self.init(image, colorSpace: nil)
    }

    private init(_ image: CGImage, colorSpace: CGColorSpace?) throws {
        let width = image.width
        let height = image.height
        let space = colorSpace ?? CGColorSpace(name: CGColorSpace.sRGB) ?? CGColorSpaceCreateDeviceRGB()
        var buffer = [UInt8](repeating: 0, count: width * height * 4)
        let drawn: Bool = buffer.withUnsafeMutableBytes { raw in
            guard let context = CGContext(
                data: raw.baseAddress, width: width, height: height, bitsPerComponent: 8,
                bytesPerRow: width * 4, space: space,
                bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)
            else { return false }
            context.interpolationQuality = .none
            context.draw(image, in: CGRect(x: 0, y: 0, width: width, height: height))
            return true
        }
        guard drawn else { throw EngineError.badOutput("cannot draw the image into RGBA") }
        pixels = buffer
        self.width = width
        self.height = height
    }
}
