import Foundation
import CImageShim

/// Writes `RGBImage`s as 8-bit RGB PNG (alpha, if any, is not written).
public enum PNGWriter {
    /// PNG bytes of `image`.
    public static func encode(_ image: RGBImage) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = image.pixels.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { msg in
                cis_png_encode_rgb8(px.baseAddress, Int32(image.width), Int32(image.height), &out, &size,
                                    msg.baseAddress, msg.count)
            }
        }
        defer { cis_free(out) }
        guard status == CIS_OK, let bytes = out else {
            let reason = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError.invalidArgument(op: "PNGWriter.encode", "libpng failed (\(status)): \(reason)")
        }
        return Data(bytes: bytes, count: size)
    }

    /// Writes `image` to `url` as PNG.
    public static func write(_ image: RGBImage, to url: URL) throws {
        let data = try encode(image)
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw ImageError.unwritable(file: url.path, reason: (error as NSError).localizedDescription)
        }
    }
}
