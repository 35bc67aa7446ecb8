import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapFormats

/// Builds a stored ZIP archive; with `zip64`, sizes and offsets go to ZIP64 extra fields and a
/// ZIP64 end-of-central-directory record (as a writer does for archives over 4 GiB).
func makeStoredZip(_ entries: [(name: String, data: [UInt8])], zip64: Bool) -> [UInt8] {
    func le16(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, Array.init) }
    func le32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, Array.init) }
    func le64(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(v).littleEndian, Array.init) }
    var out: [UInt8] = []
    var central: [UInt8] = []
    for (name, data) in entries {
        let offset = out.count
        let n = Array(name.utf8)
        out += le32(0x0403_4b50) + le16(45) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
        out += le32(data.count) + le32(data.count) + le16(n.count) + le16(0) + n + data
        let extra: [UInt8] = zip64 ? le16(1) + le16(24) + le64(data.count) + le64(data.count) + le64(offset) : []
        central += le32(0x0201_4b50) + le16(45) + le16(45) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
        central += zip64 ? le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) : le32(data.count) + le32(data.count)
        central += le16(n.count) + le16(extra.count) + le16(0) + le16(0) + le16(0) + le32(0)
        central += (zip64 ? le32(0xFFFF_FFFF) : le32(offset)) + n + extra
    }
    let cdOffset = out.count
    out += central
    if zip64 {
        let z = out.count
        out += le32(0x0606_4b50) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0)
        out += le64(entries.count) + le64(entries.count) + le64(central.count) + le64(cdOffset)
        out += le32(0x0706_4b50) + le32(0) + le64(z) + le32(1)
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF) + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(0)
    } else {
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count) + le32(central.count) + le32(cdOffset) + le16(0)
    }
    return out
}

final class ZipTests: XCTestCase {
    func testTorchZipEntries() throws {
        let zip = try ZipArchive(file: MappedFile(url: fixture("tiny_zip.pt")))
        XCTAssertTrue(zip.entries.contains { $0.name == "tiny_zip/data.pkl" })
        XCTAssertEqual(String(decoding: try zip.data(try XCTUnwrap(zip.entry("tiny_zip/byteorder"))), as: UTF8.self), "little")
        // torch aligns stored data to 64 bytes
        for e in zip.entries where e.name.contains("/data/") {
            XCTAssertEqual(try zip.dataRange(e).lowerBound % 64, 0, e.name)
        }
    }

    func testZip64ArchiveReadsLikeTheOriginal() throws {
        let original = try TorchCheckpoint(url: fixture("tiny_zip.pt"))
        let zip = try ZipArchive(file: original.file)
        let entries = try zip.entries.map { ($0.name, try zip.data($0)) }
        for z64 in [false, true] {
            let bytes = makeStoredZip(entries, zip64: z64)
            let rebuilt = try TorchCheckpoint(file: MappedFile(bytes: bytes, name: z64 ? "z64.pt" : "z32.pt"))
            XCTAssertEqual(rebuilt.tensorNames, original.tensorNames)
            for name in original.tensorNames {
                XCTAssertEqual(try rebuilt.loadTensor(name).scalars, try original.loadTensor(name).scalars, "\(name) zip64=\(z64)")
            }
        }
    }

    func testMalformedZips() throws {
        let good = makeStoredZip([("a/data.pkl", [0x80, 0x02, 0x4e, 0x2e])], zip64: false)
        // compressed entries are refused with a clear message
        var compressed = good
        compressed[8] = 8  // local header method
        let cdStart = good.count - 22 - (46 + 10)
        compressed[cdStart + 10] = 8  // central header method
        XCTAssertThrowsError(try TorchCheckpoint(file: MappedFile(bytes: compressed, name: "c.pt"))) {
            XCTAssertTrue("\($0)".contains("compressed (method 8)"), "\($0)")
        }
        // central directory offset beyond the file
        var badOffset = good
        badOffset[good.count - 6] = 0xff
        XCTAssertThrowsError(try ZipArchive(file: MappedFile(bytes: badOffset, name: "o.zip"))) {
            XCTAssertTrue("\($0)".contains("o.zip") && "\($0)".contains("central directory"), "\($0)")
        }
        // a ZIP without data.pkl
        let other = makeStoredZip([("x.txt", [1, 2, 3])], zip64: false)
        XCTAssertThrowsError(try TorchCheckpoint(file: MappedFile(bytes: other, name: "n.pt"))) {
            XCTAssertTrue("\($0)".contains("no data.pkl"), "\($0)")
        }
        // a plain pickle (no persistent ids) inside is fine: None has no tensors
        XCTAssertEqual(try TorchCheckpoint(file: MappedFile(bytes: good, name: "g.pt")).tensorNames, [])
    }
}
