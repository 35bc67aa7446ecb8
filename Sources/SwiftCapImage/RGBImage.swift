import Foundation

/// A decoded image: 8-bit RGB, interleaved, row-major.
///
/// pixels: [height, width, 3] (R, G, B per pixel). alpha: [height, width] straight
/// (non-premultiplied) alpha when the source had an alpha channel or a tRNS chunk, else nil.
/// Alpha is kept for callers that want it; every preprocessing recipe ignores it and uses the
/// colour channels as stored, which is what Pillow's `Image.convert("RGB")` does.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// [height, width, 3] interleaved RGB.
    public let pixels: [UInt8]
    /// [height, width] alpha, or nil when the image is opaque by construction.
    public let alpha: [UInt8]?

    /// Validates that `pixels` holds `width * height * 3` bytes (and `alpha`, if given, `width * height`).
    public init(width: Int, height: Int, pixels: [UInt8], alpha: [UInt8]? = nil) throws {
        guard width > 0, height > 0 else {
            throw ImageError.invalidArgument(op: "RGBImage", "size \(width)x\(height) must be positive")
        }
        let (n, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, n <= Int.max / 3, pixels.count == n * 3 else {
            throw ImageError.invalidArgument(op: "RGBImage", "\(pixels.count) bytes for \(width)x\(height)x3")
        }
        if let alpha, alpha.count != n {
            throw ImageError.invalidArgument(op: "RGBImage", "\(alpha.count) alpha bytes for \(width)x\(height)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
        self.alpha = alpha
    }

    /// Internal: sizes already checked by the caller.
    init(unchecked width: Int, height: Int, pixels: [UInt8], alpha: [UInt8]?) {
        self.width = width
        self.height = height
        self.pixels = pixels
        self.alpha = alpha
    }

    /// The colour of pixel (x, y); nil outside the image.
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8)? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// This image without its alpha plane.
    public var droppingAlpha: RGBImage { RGBImage(unchecked: width, height: height, pixels: pixels, alpha: nil) }
}
