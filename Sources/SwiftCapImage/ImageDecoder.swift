import Foundation
import CImageShim

/// File formats recognised by signature.
public enum ImageFormat: String, Sendable, Equatable {
    case jpeg = "JPEG", png = "PNG"
}

/// What the decoder found in the file besides the pixels.
public struct ImageInfo: Sendable, Equatable {
    public enum ColorModel: String, Sendable {
        case gray, rgb, ycbcr, cmyk, ycck, palette, grayAlpha, rgba, other
    }
    public var format: ImageFormat
    public var colorModel: ColorModel
    /// Components (JPEG) or channels (PNG) stored in the file.
    public var components: Int
    /// Bits per sample in the file (8 or 12 for JPEG; 1, 2, 4, 8 or 16 for PNG).
    public var bitDepth: Int
    /// JPEG progressive coding, or PNG Adam7 interlacing.
    public var progressive: Bool
    /// JPEG CMYK/YCCK with an Adobe APP14 marker: samples stored inverted and inverted back here.
    public var adobeInvertedCMYK: Bool
    /// EXIF orientation found in a JPEG (1...8), nil when absent.
    public var exifOrientation: Int?
    /// Size stored in the file, before any orientation is applied.
    public var storedWidth: Int
    public var storedHeight: Int
}

/// Decoding options.
public struct ImageDecodeOptions: Sendable, Equatable {
    /// Largest width * height accepted; files whose header claims more fail with
    /// `ImageError.tooLarge` before any pixel memory is allocated. Default 100 megapixels.
    public var maxPixels: Int
    /// Apply the JPEG EXIF orientation (as Pillow's `ImageOps.exif_transpose` does). Default true.
    public var applyEXIFOrientation: Bool

    public init(maxPixels: Int = 100_000_000, applyEXIFOrientation: Bool = true) {
        self.maxPixels = maxPixels
        self.applyEXIFOrientation = applyEXIFOrientation
    }
}

/// JPEG and PNG decoding into `RGBImage` through libjpeg-turbo and libpng.
///
/// Conversions follow Pillow's `Image.open(f).convert("RGB")`: grayscale is replicated, palettes
/// expanded, alpha dropped from the colour channels (kept separately in `RGBImage.alpha`),
/// 16-bit samples keep their high byte, CMYK becomes RGB with Pillow's integer formula.
/// Two deliberate differences from Pillow: 16-bit grayscale PNGs keep the high byte (Pillow clips
/// the 16-bit value to 255, turning most of the image white), and CMYK JPEGs without an Adobe
/// APP14 marker are read as stored (Pillow always assumes Adobe's inverted polarity).
public struct ImageDecoder: Sendable {
    public var options: ImageDecodeOptions

    public init(options: ImageDecodeOptions = ImageDecodeOptions()) {
        self.options = options
    }

    /// Decodes the file at `url`.
    public func decode(contentsOf url: URL) throws -> RGBImage {
        try decodeWithInfo(contentsOf: url).image
    }

    /// Decodes the file at `url` and reports what it held.
    public func decodeWithInfo(contentsOf url: URL) throws -> (image: RGBImage, info: ImageInfo) {
        let name = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory) else {
            throw ImageError.unreadable(file: name, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw ImageError.unreadable(file: name, reason: "it is a directory, not a photo") }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageError.unreadable(file: name, reason: (error as NSError).localizedDescription)
        }
        return try decodeWithInfo(data, name: name)
    }

    /// Decodes an image held in memory; `name` is used in error messages.
    public func decode(_ data: Data, name: String) throws -> RGBImage {
        try decodeWithInfo(data, name: name).image
    }

    /// Decodes an image held in memory and reports what it held; `name` is used in error messages.
    public func decodeWithInfo(_ data: Data, name: String) throws -> (image: RGBImage, info: ImageInfo) {
        guard !data.isEmpty else { throw ImageError.empty(file: name) }
        return try data.withUnsafeBytes { raw -> (image: RGBImage, info: ImageInfo) in
            let format = try Self.detectFormat(raw, name: name)
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
                throw ImageError.empty(file: name)
            }
            var img = cis_image()
            var message = [CChar](repeating: 0, count: 512)
            let status: Int32 = message.withUnsafeMutableBufferPointer { msg in
                switch format {
                case .jpeg: return cis_jpeg_decode(base, raw.count, Int64(options.maxPixels), &img, msg.baseAddress, msg.count)
                case .png: return cis_png_decode(base, raw.count, Int64(options.maxPixels), &img, msg.baseAddress, msg.count)
                }
            }
            defer { cis_free(img.pixels) }
            let reason = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch Int(status) {
            case Int(CIS_OK): break
            case Int(CIS_ERR_TRUNCATED): throw ImageError.truncated(file: name, reason: reason)
            case Int(CIS_ERR_TOO_LARGE):
                throw ImageError.tooLarge(file: name, width: Int(img.width), height: Int(img.height), limit: options.maxPixels)
            case Int(CIS_ERR_NOMEM): throw ImageError.outOfMemory(file: name)
            case Int(CIS_ERR_LIMIT): throw ImageError.limitExceeded(file: name, reason: reason)
            default: throw ImageError.corrupt(file: name, reason: reason.isEmpty ? "decoder error \(status)" : reason)
            }
            let w = Int(img.width), h = Int(img.height), ch = Int(img.channels)
            guard let src = img.pixels, w > 0, h > 0, ch == 3 || ch == 4 else {
                throw ImageError.corrupt(file: name, reason: "decoder returned no pixels")
            }
            let orientation = format == .jpeg ? EXIF.jpegOrientation(raw) : nil
            let info = ImageInfo(format: format, colorModel: Self.colorModel(img.color_model),
                                 components: Int(img.components), bitDepth: Int(img.bit_depth),
                                 progressive: img.progressive != 0, adobeInvertedCMYK: img.adobe_inverted != 0,
                                 exifOrientation: orientation, storedWidth: w, storedHeight: h)
            let o = options.applyEXIFOrientation ? (orientation ?? 1) : 1
            let image = Self.makeImage(src, width: w, height: h, channels: ch, orientation: o)
            return (image, info)
        }
    }

    /// JPEG or PNG from the first bytes; other known signatures are named in the error.
    public static func detectFormat(_ b: UnsafeRawBufferPointer, name: String) throws -> ImageFormat {
        func starts(_ sig: [UInt8], at offset: Int = 0) -> Bool {
            guard b.count >= offset + sig.count else { return false }
            for (i, v) in sig.enumerated() where b[offset + i] != v { return false }
            return true
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if b.count < 8, starts(Array([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A].prefix(b.count))) {
            throw ImageError.truncated(file: name, reason: "PNG signature cut short after \(b.count) bytes")
        }
        if b.count < 3, starts(Array([0xFF, 0xD8, 0xFF].prefix(b.count))) {
            throw ImageError.truncated(file: name, reason: "JPEG signature cut short after \(b.count) bytes")
        }
        let detected: String
        if starts(Array("GIF8".utf8)) { detected = "GIF" }
        else if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { detected = "WebP" }
        else if starts(Array("BM".utf8)) { detected = "BMP" }
        else if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { detected = "TIFF" }
        else if starts(Array("ftyp".utf8), at: 4) { detected = "ISO-BMFF (HEIC/AVIF)" }
        else if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50]) || starts([0xFF, 0x4F, 0xFF, 0x51]) { detected = "JPEG 2000" }
        else {
            let head = (0..<min(b.count, 8)).map { String(format: "%02x", b[$0]) }.joined(separator: " ")
            detected = "unknown signature \(head)"
        }
        throw ImageError.unsupportedFormat(file: name, detected: detected)
    }

    static func colorModel(_ c: Int32) -> ImageInfo.ColorModel {
        switch Int(c) {
        case Int(CIS_MODEL_GRAY): return .gray
        case Int(CIS_MODEL_RGB): return .rgb
        case Int(CIS_MODEL_YCBCR): return .ycbcr
        case Int(CIS_MODEL_CMYK): return .cmyk
        case Int(CIS_MODEL_YCCK): return .ycck
        case Int(CIS_MODEL_PALETTE): return .palette
        case Int(CIS_MODEL_GRAY_ALPHA): return .grayAlpha
        case Int(CIS_MODEL_RGBA): return .rgba
        default: return .other
        }
    }

    /// Splits [h, w, ch] into RGB + optional alpha and applies the orientation.
    static func makeImage(_ src: UnsafePointer<UInt8>, width w: Int, height h: Int, channels ch: Int,
                          orientation: Int) -> RGBImage {
        let n = w * h
        var oriented = src
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        defer { buffer?.deallocate() }
        if orientation != 1 {
            let b = UnsafeMutablePointer<UInt8>.allocate(capacity: n * ch)
            cis_orient(src, Int32(w), Int32(h), Int32(ch), Int32(orientation), b)
            buffer = b
            oriented = UnsafePointer(b)
        }
        let (ow, oh) = orientation >= 5 ? (h, w) : (w, h)
        if ch == 3 {
            let rgb = Array(UnsafeBufferPointer(start: oriented, count: n * 3))
            return RGBImage(unchecked: ow, height: oh, pixels: rgb, alpha: nil)
        }
        var rgb = [UInt8](repeating: 0, count: n * 3)
        var alpha = [UInt8](repeating: 0, count: n)
        rgb.withUnsafeMutableBufferPointer { c in
            alpha.withUnsafeMutableBufferPointer { a in
                for i in 0..<n {
                    c[i * 3] = oriented[i * 4]
                    c[i * 3 + 1] = oriented[i * 4 + 1]
                    c[i * 3 + 2] = oriented[i * 4 + 2]
                    a[i] = oriented[i * 4 + 3]
                }
            }
        }
        return RGBImage(unchecked: ow, height: oh, pixels: rgb, alpha: alpha)
    }
}

extension ImageDecoder {
    /// File extensions (lower-cased) of the photos SwiftCap reads.
    public static let photoExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Photo files (.jpg/.jpeg/.png, any case) directly inside `folder`, sorted by name; the folder
    /// listing's own error when it cannot be read.
    public static func photoFiles(in folder: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { photoExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted().map { folder.appendingPathComponent($0) }
    }
}
