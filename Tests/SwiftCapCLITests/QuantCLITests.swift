import Foundation
import SwiftCapTestSupport
import XCTest

/// `caption --arch ... --quant`: a published-architecture checkpoint held quantized in memory captions like
/// the fp32 one, and a bad value is refused with the allowed ones named.
extension BatchCLITests {
    func testPublishedCaptionerRunsQuantizedInMemory() throws {
        let swiftcap = try binary()
        let weights = BatchCLITests.root.appendingPathComponent("fixtures/captioners/blip-tiny").path
        let dir = try library()
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = dir.appendingPathComponent(BatchCLITests.photos[0]).path
        for q in ["f32", "f16", "int8", "q4"] {
            let r = try run(swiftcap, ["caption", "--arch", "blip", "--weights", weights, "--quant", q, "--max-tokens", "5", "--threads", "1", photo])
            XCTAssertEqual(r.status, 0, "\(q): \(r.stderr)")
            let caption = r.stdout.split(separator: "\t").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            XCTAssertTrue(caption.hasPrefix("a picture of"), "\(q): \(r.stdout)")
            XCTAssertGreaterThan(caption.split(separator: " ").count, 3, "\(q): no words after the prompt")
        }
        let bad = try run(swiftcap, ["caption", "--arch", "blip", "--weights", weights, "--quant", "int4", photo])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("int4") && bad.stderr.contains("'q4'"), bad.stderr)
    }
}
