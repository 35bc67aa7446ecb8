import Foundation
import XCTest
@testable import SwiftCapImage

/// Bad input (empty, truncated, corrupted, huge, unsupported) gives a typed `ImageError` naming
/// the file; nothing crashes. Every malformed input is generated here at test time.
final class MalformedInputTests: XCTestCase {
    let decoder = ImageDecoder()

    func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: Fixtures.decodeFolder.appendingPathComponent(name))
    }

    /// The file named in an error, or nil for cases that name none.
    func fileNamed(in error: Error) -> String? {
        guard let e = error as? ImageError else { return nil }
        switch e {
        case .unreadable(let f, _), .empty(let f), .unsupportedFormat(let f, _), .truncated(let f, _),
             .corrupt(let f, _), .tooLarge(let f, _, _, _), .limitExceeded(let f, _), .outOfMemory(let f),
             .unwritable(let f, _):
            return f
        case .invalidArgument:
            return nil
        }
    }

    func testEmptyMissingAndDirectory() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let empty = dir.appendingPathComponent("empty.jpg")
        try Data().write(to: empty)
        XCTAssertThrowsError(try decoder.decode(contentsOf: empty)) { e in
            XCTAssertEqual(e as? ImageError, .empty(file: empty.path))
            XCTAssertTrue("\(e)".contains("empty.jpg"))
        }
        let missing = dir.appendingPathComponent("nope.png")
        XCTAssertThrowsError(try decoder.decode(contentsOf: missing)) { e in
            guard case ImageError.unreadable(let f, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(f, missing.path)
        }
        XCTAssertThrowsError(try decoder.decode(contentsOf: missing)) { e in XCTAssertTrue("\(e)".contains("no such file"), "\(e)") }
        XCTAssertThrowsError(try decoder.decode(contentsOf: dir)) { e in
            XCTAssertNotNil(e as? ImageError, "\(e)")
            XCTAssertTrue("\(e)".contains("is a directory"), "\(e)")
        }
    }

    func testUnsupportedFormatsAreNamed() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let cases: [(String, [UInt8], String)] = [
            ("a.gif", Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0], "GIF"),
            ("a.webp", Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8 ".utf8), "WebP"),
            ("a.bmp", Array("BM".utf8) + [UInt8](repeating: 0, count: 60), "BMP"),
            ("a.tif", [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0], "TIFF"),
            ("a.heic", [0, 0, 0, 0x18] + Array("ftypheic".utf8), "HEIC"),
            ("a.txt", Array("hello, this is not an image".utf8), "unknown signature"),
        ]
        for (name, bytes, detected) in cases {
            let url = dir.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            XCTAssertThrowsError(try decoder.decode(contentsOf: url)) { e in
                guard case ImageError.unsupportedFormat(let f, let d) = e else { return XCTFail("\(name): \(e)") }
                XCTAssertEqual(f, url.path)
                XCTAssertTrue(d.contains(detected), "\(name): \(d)")
            }
        }
    }

    /// Every prefix of several valid files (each length from 1 byte to one short of the whole)
    /// fails with a typed error naming the file; a sample of them goes through files on disk.
    func testTruncationAtEveryLength() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let names = ["jpeg_baseline_420.jpg", "jpeg_progressive.jpg", "jpeg_gray.jpg", "jpeg_cmyk_adobe.jpg",
                     "jpeg_exif_6.jpg", "png_rgb8.png", "png_rgb8_interlaced.png", "png_palette_trns.png",
                     "png_rgba16.png", "png_gray1.png"]
        var checked = 0
        for name in names {
            let full = try fixture(name)
            XCTAssertNoThrow(try decoder.decode(full, name: name))
            for length in 1..<full.count {
                let cut = full.prefix(length)
                let label = "\(name)[0..<\(length)]"
                let onDisk = length % 97 == 0
                let url = dir.appendingPathComponent("cut-\(length)-\(name)")
                if onDisk { try Data(cut).write(to: url) }
                do {
                    let image = onDisk ? try decoder.decode(contentsOf: url) : try decoder.decode(Data(cut), name: label)
                    XCTFail("\(label): decoded \(image.width)x\(image.height) from a truncated file")
                } catch let e as ImageError {
                    switch e {
                    case .truncated, .corrupt: break
                    default: XCTFail("\(label): unexpected \(e)")
                    }
                    XCTAssertEqual(fileNamed(in: e), onDisk ? url.path : label)
                }
                checked += 1
            }
        }
        print("truncation: \(checked) prefixes rejected")
    }

    /// Random byte flips: each variant either decodes to some image or throws an `ImageError`.
    func testByteFlipsNeverCrash() throws {
        var rng: UInt64 = 0x5EED
        func next() -> Int {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: rng >> 33)
        }
        let dir = try Fixtures.temporaryDirectory(self)
        var decoded = 0, rejected = 0
        for name in ["jpeg_baseline_444.jpg", "jpeg_progressive.jpg", "jpeg_cmyk_adobe.jpg", "png_rgb8.png",
                     "png_palette8.png", "png_rgba16_interlaced.png"] {
            let full = [UInt8](try fixture(name))
            for variant in 0..<300 {
                var b = full
                for _ in 0..<(1 + next() % 4) {
                    let i = next() % b.count
                    b[i] ^= UInt8(1 << (next() % 8)) | UInt8(truncatingIfNeeded: next() % 2 == 0 ? 0 : next())
                }
                // every fifth variant goes through a file in the temporary directory, the rest through memory
                let url = dir.appendingPathComponent("flip-\(variant)-\(name)")
                let onDisk = variant % 5 == 0
                if onDisk { try Data(b).write(to: url) }
                do {
                    let image = onDisk ? try decoder.decode(contentsOf: url) : try decoder.decode(Data(b), name: url.path)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
                    decoded += 1
                } catch let e as ImageError {
                    XCTAssertEqual(fileNamed(in: e), url.path)
                    rejected += 1
                }
            }
        }
        XCTAssertGreaterThan(rejected, 0)
        print("byte flips: \(decoded) decoded, \(rejected) rejected with a typed error")
    }

    /// CRC-32 (PNG chunk checksums).
    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        let n = UInt32(data.count), crc = crc32(t + data)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + t + data
            + [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
    }

    func testPNGHeaderClaimingHugeSizeIsRefusedBeforeAllocating() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        // 50000 x 50000 (2.5 gigapixels), and sizes past libpng's own 1,000,000-per-side default
        for (w, h) in [(50000, 50000), (2_000_000, 51), (3, 2_000_000_000), (10001, 10000)] {
            let ihdr = be32(UInt32(w)) + be32(UInt32(h)) + [8, 2, 0, 0, 0]
            let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
                + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
            let url = dir.appendingPathComponent("huge-\(w)x\(h).png")
            try Data(png).write(to: url)
            XCTAssertThrowsError(try decoder.decode(contentsOf: url)) { e in
                XCTAssertEqual(e as? ImageError, .tooLarge(file: url.path, width: w, height: h, limit: 100_000_000))
            }
        }
    }

    func testJPEGHeaderClaimingHugeSizeIsRefused() throws {
        var b = [UInt8](try fixture("jpeg_baseline_444.jpg"))
        guard let sof = (0..<(b.count - 9)).first(where: { b[$0] == 0xFF && b[$0 + 1] == 0xC0 }) else {
            return XCTFail("no SOF0 in fixture")
        }
        // SOF0: FF C0, length (2), precision (1), height (2), width (2)
        b[sof + 5] = 0xEA; b[sof + 6] = 0x60   // 60000
        b[sof + 7] = 0xEA; b[sof + 8] = 0x60
        let dir = try Fixtures.temporaryDirectory(self)
        let url = dir.appendingPathComponent("huge.jpg")
        try Data(b).write(to: url)
        XCTAssertThrowsError(try decoder.decode(contentsOf: url)) { e in
            XCTAssertEqual(e as? ImageError, .tooLarge(file: url.path, width: 60000, height: 60000, limit: 100_000_000))
        }
    }

    /// A progressive JPEG whose last scan is repeated 1,100 times is stopped at 1,000 scans
    /// (crafted scan floods are a known way to keep libjpeg busy for minutes).
    func testScanFloodIsStopped() throws {
        let b = [UInt8](try fixture("jpeg_progressive.jpg"))
        guard b.count > 4, b[b.count - 2] == 0xFF, b[b.count - 1] == 0xD9,
              let lastSOS = (2..<(b.count - 1)).last(where: { b[$0] == 0xFF && b[$0 + 1] == 0xDA }) else {
            return XCTFail("fixture layout")
        }
        let scan = Array(b[lastSOS..<(b.count - 2)])
        var flood = Array(b[0..<(b.count - 2)])
        for _ in 0..<1100 { flood += scan }
        flood += [0xFF, 0xD9]
        XCTAssertThrowsError(try decoder.decode(Data(flood), name: "flood.jpg")) { e in
            guard case ImageError.limitExceeded(let f, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(f, "flood.jpg")
            XCTAssertTrue(reason.contains("1000 scans"), reason)
        }
        // the same file with a few repeats is still accepted (a warning, as in Pillow)
        var few = Array(b[0..<(b.count - 2)])
        for _ in 0..<3 { few += scan }
        few += [0xFF, 0xD9]
        XCTAssertNoThrow(try decoder.decode(Data(few), name: "few.jpg"))
    }

    func testPixelLimitIsConfigurable() throws {
        for name in ["jpeg_baseline_420.jpg", "png_rgb8.png"] {
            let data = try fixture(name)   // 40 x 28 = 1120 pixels
            XCTAssertThrowsError(try ImageDecoder(options: ImageDecodeOptions(maxPixels: 1119)).decode(data, name: name)) { e in
                XCTAssertEqual(e as? ImageError, .tooLarge(file: name, width: 40, height: 28, limit: 1119))
            }
            XCTAssertNoThrow(try ImageDecoder(options: ImageDecodeOptions(maxPixels: 1120)).decode(data, name: name))
        }
    }

    func testStructurallyBrokenFiles() throws {
        let cases: [(String, [UInt8])] = [
            ("soi-eoi.jpg", [0xFF, 0xD8, 0xFF, 0xD9]),
            ("signature-only.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            ("bad-ihdr-crc.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [0, 0, 0, 13] + Array("IHDR".utf8)
                + [0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0] + [1, 2, 3, 4]),
            ("zero-width.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
                + chunk("IHDR", [0, 0, 0, 0, 0, 0, 0, 1, 8, 2, 0, 0, 0]) + chunk("IEND", [])),
            ("bad-depth.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
                + chunk("IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 7, 2, 0, 0, 0]) + chunk("IEND", [])),
            ("short-sig.png", [0x89, 0x50, 0x4E]),
            ("jpeg-garbage.jpg", [0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x42, count: 200)),
        ]
        for (name, bytes) in cases {
            XCTAssertThrowsError(try decoder.decode(Data(bytes), name: name)) { e in
                XCTAssertEqual(self.fileNamed(in: e), name, "\(e)")
            }
        }
    }
}
