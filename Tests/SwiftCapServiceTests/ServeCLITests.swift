import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwiftCapTestSupport
import XCTest

/// `swiftcap serve` as a user runs it: the built binary, real signals, the default datastore from the assets.
final class ServeCLITests: XCTestCase {
    func testServeCaptionsThenExitsZeroOnSIGTERM() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftcap")
        try requireInput(FileManager.default.isExecutableFile(atPath: binary.path), "no swiftcap binary beside the tests (run `swift build` first)")
        let paths = ServerHarness.paths
        try requireInput(FileManager.default.fileExists(atPath: paths.asset("datastore/coco-karpathy-train.scds").path),
                         "needs the caption datastore (scripts/setup.sh builds it)")
        try requireInput(FileManager.default.fileExists(atPath: ServerHarness.bear.path), "needs ../shared (coco-dev photos)")
        let p = Process()
        p.executableURL = binary
        p.arguments = ["serve", "--port", "0", "--workers", "1", "--queue", "2"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let lines = LinesBox()
        err.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if d.isEmpty { h.readabilityHandler = nil } else { lines.append(d) }  // end of file: stop being called (it spins otherwise)
        }
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        // The log says which port the kernel gave.
        var port: Int?
        for _ in 0..<600 where port == nil {
            port = lines.text.range(of: #"port=(\d+)"#, options: .regularExpression).flatMap { Int(lines.text[$0].dropFirst(5)) }
            if port == nil { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        let base = "http://127.0.0.1:\(try XCTUnwrap(port, lines.text))"
        var ready = 0
        for _ in 0..<600 where ready != 200 {
            ready = (try? await URLSession.shared.data(from: URL(string: base + "/readyz")!)).flatMap { ($0.1 as? HTTPURLResponse)?.statusCode } ?? 0
            if ready != 200 { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        XCTAssertEqual(ready, 200, lines.text)
        var request = URLRequest(url: URL(string: base + "/v1/captions")!)
        request.httpMethod = "POST"
        request.setValue("image/jpeg", forHTTPHeaderField: "Content-Type")
        request.httpBody = try Data(contentsOf: ServerHarness.bear)
        let (data, response) = try await URLSession.shared.data(for: request)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("bear"), String(decoding: data, as: UTF8.self))
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<200 where p.isRunning { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertFalse(p.isRunning, "exits after SIGTERM")
        XCTAssertEqual(p.terminationStatus, 0, lines.text)
        XCTAssertTrue(lines.text.contains("stopped"), lines.text)
        // Photo bytes never reach the log (the photo alone is 335,861 bytes): a short line per request (the /readyz polls
        // while loading are as many as loading takes, so the total is bounded per line), a few at start and stop.
        let logLines = lines.text.split(separator: "\n")
        XCTAssertLessThan(logLines.map(\.utf8.count).max() ?? 0, 1_000, lines.text)
        XCTAssertLessThan(lines.text.utf8.count, 100_000, lines.text)
        XCTAssertTrue(lines.text.contains("path=/v1/captions"), lines.text)
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
