import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwiftCapTestSupport
import XCTest

/// `swiftcap serve --arch blip --weights DIR` and `swiftcap serve --model ORG/NAME` (against scripts/fake_hub.py)
/// as a user runs them: the built binary, the port from its log, real HTTP, SIGTERM.
final class ServePublishedCLITests: XCTestCase {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftcap")
    }

    /// A running `swiftcap serve`, its log, and its base URL once it listens.
    final class Served {
        let process = Process()
        let log = LinesBox()
        var base = ""

        init(_ arguments: [String], environment: [String: String] = [:]) async throws {
            try requireInput(FileManager.default.isExecutableFile(atPath: ServePublishedCLITests.binary.path),
                             "no swiftcap binary beside the tests (run `swift build` first)")
            process.executableURL = ServePublishedCLITests.binary
            process.arguments = ["serve", "--port", "0"] + arguments
            var env = ProcessInfo.processInfo.environment
            env["NO_PROXY"] = "127.0.0.1,localhost"
            env["no_proxy"] = "127.0.0.1,localhost"
            for (k, v) in environment { env[k] = v }
            process.environment = env
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            let log = self.log
            err.fileHandleForReading.readabilityHandler = { h in
                let d = h.availableData
                if d.isEmpty { h.readabilityHandler = nil } else { log.append(d) }  // end of file: stop being called
            }
            try process.run()
            var port: Int?
            for _ in 0..<600 where port == nil && process.isRunning {
                port = log.text.range(of: #"port=(\d+)"#, options: .regularExpression).flatMap { Int(log.text[$0].dropFirst(5)) }
                if port == nil { try await Task.sleep(nanoseconds: 50_000_000) }
            }
            base = "http://127.0.0.1:\(try XCTUnwrap(port, log.text))"
        }

        func get(_ path: String) async throws -> (Int, Data) {
            let (data, response) = try await URLSession.shared.data(from: URL(string: base + path)!)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
        }

        func waitReady() async throws -> Int {
            var ready = 0
            for _ in 0..<600 where ready != 200 && process.isRunning {
                ready = (try? await get("/readyz"))?.0 ?? 0
                if ready != 200 { try await Task.sleep(nanoseconds: 100_000_000) }
            }
            return ready
        }

        func caption(_ photo: URL, query: String = "") async throws -> (Int, [String: Any]) {
            var request = URLRequest(url: URL(string: base + "/v1/captions" + query)!)
            request.httpMethod = "POST"
            request.setValue("image/jpeg", forHTTPHeaderField: "Content-Type")
            request.httpBody = try Data(contentsOf: photo)
            let (data, response) = try await URLSession.shared.data(for: request)
            let json = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? ["raw": String(decoding: data, as: UTF8.self)]
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
        }

        func model() async throws -> [String: Any] {
            let (_, data) = try await get("/v1/models")
            let list = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["models"] as? [[String: Any]])
            return try XCTUnwrap(list.first)
        }

        /// SIGTERM, then the exit status.
        func terminate() async throws -> Int32 {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<200 where process.isRunning { try await Task.sleep(nanoseconds: 50_000_000) }
            if process.isRunning { process.terminate(); return -1 }
            return process.terminationStatus
        }
    }

    func testServeArchBLIPWeightsFromTheCLI() async throws {
        let s = try await Served(["--arch", "blip", "--weights", BLIPReference.dir.path, "--workers", "2", "--threads", "2"])
        defer { if s.process.isRunning { s.process.terminate() } }
        let ready = try await s.waitReady()
        XCTAssertEqual(ready, 200, s.log.text)
        let model = try await s.model()
        let (status, answer) = try await s.caption(BLIPReference.photo)
        let (shortStatus, short) = try await s.caption(BLIPReference.photo, query: "?beams=1&max_tokens=3")
        let (badStatus, bad) = try await s.caption(BLIPReference.photo, query: "?beams=99")
        let exit = try await s.terminate()
        XCTAssertEqual(model["id"] as? String, "blip-tiny")
        XCTAssertEqual(model["decoder"] as? String, "blip")
        XCTAssertEqual(model["ready"] as? Bool, true)
        XCTAssertEqual(status, 200, "\(answer)")
        XCTAssertEqual(answer["caption"] as? String, try BLIPReference.caption(beams: 3, maxTokens: 20).caption)
        XCTAssertEqual(answer["model"] as? String, "blip-tiny")
        XCTAssertEqual(shortStatus, 200, "\(short)")
        XCTAssertEqual(short["caption"] as? String, try BLIPReference.caption(beams: 1, maxTokens: 3).caption)
        XCTAssertLessThanOrEqual(short["tokens"] as? Int ?? .max, 3)
        XCTAssertEqual(badStatus, 400, "\(bad)")
        XCTAssertEqual(exit, 0, s.log.text)
    }

    func testServeModelFromTheHubLikeCaptionDoes() async throws {
        let hub = try FakeHubServer(repos: ["Salesforce/blip-image-captioning-base": BLIPReference.dir])
        defer { hub.stop() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("serve-hub-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let env = ["HF_HUB_CACHE": work.appendingPathComponent("cache").path, "HF_ENDPOINT": hub.endpoint.absoluteString, "HF_HOME": work.path,
                   "HF_TOKEN": "", "HF_HUB_OFFLINE": "0"]
        let s = try await Served(["--model", "Salesforce/blip-image-captioning-base", "--workers", "1", "--max-tokens", "5"], environment: env)
        defer { if s.process.isRunning { s.process.terminate() } }
        let ready = try await s.waitReady()
        XCTAssertEqual(ready, 200, s.log.text)
        let model = try await s.model()
        let (status, answer) = try await s.caption(BLIPReference.photo)
        let (greedyStatus, greedy) = try await s.caption(BLIPReference.photo, query: "?beams=1")
        let exit = try await s.terminate()
        XCTAssertEqual(model["id"] as? String, "Salesforce/blip-image-captioning-base")
        XCTAssertEqual(model["decoder"] as? String, "blip")
        XCTAssertTrue((model["description"] as? String)?.contains("blip Salesforce/blip-image-captioning-base") == true, "\(model)")
        XCTAssertEqual(status, 200, "\(answer)")
        XCTAssertEqual(answer["caption"] as? String, try BLIPReference.caption(beams: 3, maxTokens: 5).caption, "--max-tokens 5 is the default")
        XCTAssertEqual(answer["model"] as? String, "Salesforce/blip-image-captioning-base")
        XCTAssertEqual(greedyStatus, 200, "\(greedy)")
        XCTAssertEqual(greedy["caption"] as? String, try BLIPReference.caption(beams: 1, maxTokens: 5).caption)
        XCTAssertEqual(exit, 0, s.log.text)
        // The files went into the hub cache, as `swiftcap caption --model` puts them.
        let snapshots = work.appendingPathComponent("cache/models--Salesforce--blip-image-captioning-base/snapshots")
        XCTAssertFalse(((try? FileManager.default.contentsOfDirectory(atPath: snapshots.path)) ?? []).isEmpty, s.log.text)
    }
}
