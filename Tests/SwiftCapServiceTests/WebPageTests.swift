import Foundation
import SwiftCapService
import SwiftCapTestSupport
import XCTest

/// The page at / in real headless Chromium (scripts/serve_page_check.py with Selenium and chromium-driver).
final class WebPageTests: XCTestCase {
    func testPageCaptionsAnUploadedPhotoInChromium() async throws {
        try requireInput(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
                         && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
                         "needs Debian's chromium and chromium-driver (scripts/install-deps.sh)")
        let h = try await ServerHarness()
        let shot = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-page-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: shot) }
        let script = ServerHarness.root.appendingPathComponent("scripts/serve_page_check.py").path
        let port = h.port
        let result = await Task.detached {
            Result { try PythonVenv.run([script, "--url", "http://127.0.0.1:\(port)/", "--photo", ServerHarness.bear.path,
                                         "--screenshot", shot.path]) }
        }.value
        try await h.stop()
        let (status, out, err) = try result.get()
        XCTAssertEqual(status, 0, "stdout: \(out)\nstderr: \(err)")
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
        let caption = try XCTUnwrap(j["caption"] as? String)
        XCTAssertTrue(caption.lowercased().contains("bear"), caption)
        XCTAssertGreaterThan(j["concepts"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(j["canvas_width"] as? Int ?? 0, 0)
        let png = try Data(contentsOf: shot)
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertGreaterThan(png.count, 10_000)
    }
}
