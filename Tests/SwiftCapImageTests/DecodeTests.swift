import Foundation
import XCTest
@testable import SwiftCapImage

/// Decoding of every file in fixtures/image/decode compared with Pillow's decode
/// (`ImageOps.exif_transpose(Image.open(f)).convert("RGB")`, fixtures/gen/image.py).
final class DecodeTests: XCTestCase {
    func testEveryFixtureMatchesPillow() throws {
        let files = try Fixtures.json("decode.json")
        XCTAssertGreaterThanOrEqual(files.count, 30)
        let decoder = ImageDecoder()
        var worstJPEG = 0
        for (name, value) in files.sorted(by: { $0.key < $1.key }) {
            guard let entry = value as? [String: Any] else { throw FixtureError("\(name): not an object") }
            let url = Fixtures.decodeFolder.appendingPathComponent(name)
            let (image, info) = try decoder.decodeWithInfo(contentsOf: url)
            XCTAssertEqual(image.width, entry["width"] as? Int, name)
            XCTAssertEqual(image.height, entry["height"] as? Int, name)
            let expected = try Fixtures.bytes(base64: entry["rgb"], name)
            let diff = maxByteDifference(image.pixels, expected)
            if name.hasPrefix("jpeg") {
                // Pillow bundles its own libjpeg-turbo build; the same IDCT gives identical bytes.
                XCTAssertLessThanOrEqual(diff, 1, "\(name): max |Δ| \(diff)")
                worstJPEG = max(worstJPEG, diff)
                XCTAssertEqual(info.format, .jpeg)
                XCTAssertEqual(info.exifOrientation, entry["exifOrientation"] as? Int, name)
                XCTAssertEqual(info.progressive, entry["progressive"] as? Bool, name)
                XCTAssertEqual(info.adobeInvertedCMYK, entry["adobe"] as? Bool, name)
            } else {
                XCTAssertEqual(diff, 0, "\(name): PNG decode must be exact, max |Δ| \(diff)")
                XCTAssertEqual(info.format, .png)
            }
            if let alpha = entry["alpha"] as? String {
                let expectedAlpha = try Fixtures.bytes(base64: alpha, name)
                XCTAssertEqual(image.alpha, expectedAlpha, "\(name): alpha")
            } else {
                XCTAssertNil(image.alpha, "\(name): unexpected alpha")
            }
        }
        print("decode fixtures: worst JPEG max |Δ| vs Pillow = \(worstJPEG)")
    }

    func testColorModelsAreReported() throws {
        let d = ImageDecoder()
        func info(_ n: String) throws -> ImageInfo { try d.decodeWithInfo(contentsOf: Fixtures.decodeFolder.appendingPathComponent(n)).info }
        XCTAssertEqual(try info("jpeg_gray.jpg").colorModel, .gray)
        XCTAssertEqual(try info("jpeg_baseline_420.jpg").colorModel, .ycbcr)
        XCTAssertEqual(try info("jpeg_cmyk_adobe.jpg").colorModel, .cmyk)
        XCTAssertEqual(try info("jpeg_cmyk_adobe.jpg").components, 4)
        XCTAssertEqual(try info("png_palette8.png").colorModel, .palette)
        XCTAssertEqual(try info("png_rgb16.png").bitDepth, 16)
        XCTAssertEqual(try info("png_gray_alpha8.png").colorModel, .grayAlpha)
        XCTAssertTrue(try info("png_rgb8_interlaced.png").progressive)
    }

    func testOrientationCanBeSwitchedOff() throws {
        let url = Fixtures.decodeFolder.appendingPathComponent("jpeg_exif_6.jpg")
        let raw = try ImageDecoder(options: ImageDecodeOptions(applyEXIFOrientation: false)).decode(contentsOf: url)
        let oriented = try ImageDecoder().decode(contentsOf: url)
        XCTAssertEqual(raw.width, 40)
        XCTAssertEqual(raw.height, 28)
        XCTAssertEqual(oriented.width, 28)
        XCTAssertEqual(oriented.height, 40)
        // orientation 6 = rotate 90° clockwise: output (x, y) = stored (y, H - 1 - x)
        for (x, y) in [(0, 0), (27, 0), (5, 39), (13, 17)] {
            let a = oriented.pixel(x: x, y: y), b = raw.pixel(x: y, y: 27 - x)
            XCTAssertTrue(a! == b!, "(\(x), \(y))")
        }
    }

    func testEXIFParserOnHandMadeTIFF() {
        func tiff(_ bigEndian: Bool, tag: UInt16, type: UInt16, value: UInt32, count: UInt32 = 1) -> [UInt8] {
            func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
            func u32(_ v: UInt32) -> [UInt8] { bigEndian ? u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) : u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) }
            let valueField: [UInt8] = type == 3 ? u16(UInt16(value)) + [0, 0] : u32(value)
            return (bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]) + u16(42) + u32(8) + u16(2)
                + u16(0x010F) + u16(2) + u32(4) + u32(0)          // Make, ignored
                + u16(tag) + u16(type) + u32(count) + valueField + u32(0)
        }
        func parse(_ b: [UInt8]) -> Int? { b.withUnsafeBytes { EXIF.orientation(tiff: $0) } }
        for o in 1...8 {
            XCTAssertEqual(parse(tiff(false, tag: 0x0112, type: 3, value: UInt32(o))), o)
            XCTAssertEqual(parse(tiff(true, tag: 0x0112, type: 3, value: UInt32(o))), o)
        }
        XCTAssertNil(parse(tiff(false, tag: 0x0112, type: 3, value: 9)), "out of range")
        XCTAssertNil(parse(tiff(false, tag: 0x0112, type: 3, value: 0)), "zero")
        XCTAssertNil(parse(tiff(true, tag: 0x0110, type: 3, value: 6)), "other tag")
        XCTAssertNil(parse(tiff(true, tag: 0x0112, type: 2, value: 6)), "wrong type")
        let good = tiff(true, tag: 0x0112, type: 3, value: 6)
        // the orientation value field ends 6 bytes before the end of this structure
        for cut in 0..<(good.count - 6) { XCTAssertNil(parse(Array(good.prefix(cut))), "cut at \(cut)") }
        XCTAssertNil(parse([0x49, 0x49, 42, 0, 0xFF, 0xFF, 0xFF, 0x7F]), "IFD offset past the end")
    }

    func testPNGWriterRoundTrip() throws {
        var px = [UInt8](repeating: 0, count: 37 * 23 * 3)
        var s: UInt32 = 12345
        for i in px.indices { s = s &* 1_664_525 &+ 1_013_904_223; px[i] = UInt8(s >> 24) }
        let image = try RGBImage(width: 37, height: 23, pixels: px)
        let dir = try Fixtures.temporaryDirectory(self)
        let url = dir.appendingPathComponent("out.png")
        try PNGWriter.write(image, to: url)
        let back = try ImageDecoder().decode(contentsOf: url)
        XCTAssertEqual(back, image)
        XCTAssertThrowsError(try PNGWriter.write(image, to: dir.appendingPathComponent("missing/dir/out.png"))) { e in
            guard case ImageError.unwritable(let f, _) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(f.hasSuffix("missing/dir/out.png"))
        }
    }

    func testRGBImageValidatesSizes() {
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2, pixels: [0, 0, 0]))
        XCTAssertThrowsError(try RGBImage(width: 0, height: 2, pixels: []))
        XCTAssertThrowsError(try RGBImage(width: 1, height: 1, pixels: [1, 2, 3], alpha: [1, 2]))
        XCTAssertNoThrow(try RGBImage(width: 1, height: 1, pixels: [1, 2, 3], alpha: [9]))
    }
}
