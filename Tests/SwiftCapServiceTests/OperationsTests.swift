import Foundation
import SwiftCapService
import SwiftCapTestSupport
import XCTest

/// Readiness, metrics, graceful shutdown and the worker pool.
final class OperationsTests: XCTestCase {
    func testReadyzIs503UntilTheCaptionerIsLoaded() async throws {
        let h = try await ServerHarness(loaded: false)
        let before = try await h.request("GET", "/readyz")
        let captionBefore = try await h.postPhoto(ServerHarness.bear)
        let health = try await h.request("GET", "/healthz")
        h.server.engine.setReady(try ServerHarness.captioner.get())
        let after = try await h.request("GET", "/readyz")
        try await h.stop()
        XCTAssertEqual(before.status, 503, before.text)
        XCTAssertEqual(before.errorCode, "not_ready")
        XCTAssertNotNil(before.header("Retry-After"))
        XCTAssertEqual(captionBefore.status, 503)
        XCTAssertEqual(health.status, 200, "alive while loading")
        XCTAssertEqual(after.status, 200, after.text)
    }

    func testMetricsCountRequestsByStatusWithLatencyAndStageHistograms() async throws {
        let h = try await ServerHarness()
        _ = try await h.postPhoto(ServerHarness.bear)
        _ = try await h.request("POST", "/v1/captions", body: Data("x".utf8), contentType: "text/plain")
        _ = try await h.request("GET", "/healthz")
        let m = try await h.request("GET", "/metrics")
        try await h.stop()
        XCTAssertEqual(m.status, 200)
        let text = m.text
        for line in [
            #"swiftcap_http_requests_total{route="/v1/captions",method="POST",status="200"} 1"#,
            #"swiftcap_http_requests_total{route="/v1/captions",method="POST",status="415"} 1"#,
            #"swiftcap_http_requests_total{route="/healthz",method="GET",status="200"} 1"#,
            #"swiftcap_http_request_duration_seconds_count{route="/v1/captions",method="POST",status="200"} 1"#,
            #"swiftcap_http_request_duration_seconds_count{route="/v1/captions",method="POST",status="415"} 1"#,
            #"swiftcap_stage_duration_seconds_count{stage="detector"} 1"#,
            #"swiftcap_stage_duration_seconds_count{stage="queue"} 1"#,
            #"swiftcap_photos_total{result="ok"} 1"#,
            "\nswiftcap_queue_depth 0.0\n",
            "\nswiftcap_workers_busy 0.0\n",
            "\nswiftcap_http_in_flight 1.0\n",  // the /metrics request itself
        ] {
            XCTAssertTrue(text.contains(line), "missing \(line) in\n\(text)")
        }
        XCTAssertTrue(text.contains(#"swiftcap_http_request_duration_seconds_bucket{route="/v1/captions",method="POST",status="200",le="#), text)
        XCTAssertTrue(text.contains("# TYPE swiftcap_http_request_duration_seconds histogram"), text)
    }

    /// SIGTERM's path (graceful shutdown) while a photo is being captioned: it is answered, then run() returns.
    func testGracefulShutdownAnswersRequestsInFlight() async throws {
        let h = try await ServerHarness { $0.workers = 1 }
        let photo = try Data(contentsOf: ServerHarness.bear)
        async let inFlight = h.request("POST", "/v1/captions", body: photo, contentType: "image/jpeg")
        // Wait until the worker has the photo, then shut down.
        var busy = false
        for _ in 0..<400 where !busy {
            let m = try await h.request("GET", "/metrics")
            busy = m.text.contains("swiftcap_workers_busy 1.0")
            if !busy { try await Task.sleep(nanoseconds: 2_000_000) }
        }
        XCTAssertTrue(busy, "the photo reached the worker before the shutdown")
        try await h.stop()
        let r = try await inFlight
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(r.text.contains("bear"), r.text)
    }

    func testWorkerPoolRejectsWhenFullAndDropsExpiredJobs() async throws {
        let pool = WorkerPool(workers: 1, threadsPerWorker: 1, capacity: 1)
        let gate = DispatchSemaphore(value: 0)
        async let first: Int = pool.run(timeout: nil) { _ in gate.wait(); return 1 }
        try await Task.sleep(nanoseconds: 50_000_000)
        async let second: Int = pool.run(timeout: nil) { _ in 2 }
        try await Task.sleep(nanoseconds: 50_000_000)
        do {
            // (A deadline, so that a pool that queued it anyway fails this test instead of hanging it.)
            _ = try await pool.run(timeout: 2) { _ in 3 }
            XCTFail("a third job does not fit 1 worker + 1 queue slot")
        } catch let e as ServiceError {
            XCTAssertEqual(e.code, "queue_full")
            XCTAssertEqual(e.retryAfter, 1)
        }
        gate.signal()
        let (a, b) = try await (first, second)
        XCTAssertEqual([a, b], [1, 2])
        // A job whose deadline passes while it waits is answered 504 and never run.
        let ran = LockedFlag()
        async let blocker: Int = pool.run(timeout: nil) { _ in gate.wait(); return 0 }
        try await Task.sleep(nanoseconds: 50_000_000)
        do {
            _ = try await pool.run(timeout: 0.05) { _ in ran.set(); return 9 }
            XCTFail("deadline")
        } catch let e as ServiceError {
            XCTAssertEqual(e.code, "timeout")
        }
        gate.signal()
        _ = try await blocker
        pool.shutdown()
        XCTAssertFalse(ran.value, "the expired job was dropped")
        do {
            _ = try await pool.run(timeout: nil) { _ in 1 }
            XCTFail("after shutdown")
        } catch let e as ServiceError {
            XCTAssertEqual(e.code, "shutting_down")
        }
    }

    func testAPIKeyCompareAndFile() throws {
        let c = APIKeyChecker(keys: ["abc123", "zz"])
        XCTAssertTrue(c.accepts(authorization: "Bearer abc123"))
        XCTAssertTrue(c.accepts(authorization: "bearer zz"))
        XCTAssertFalse(c.accepts(authorization: "Bearer abc12"))
        XCTAssertFalse(c.accepts(authorization: "Bearer abc1234"))
        XCTAssertFalse(c.accepts(authorization: "abc123"))
        XCTAssertFalse(c.accepts(authorization: "Bearer "))
        XCTAssertFalse(c.accepts(authorization: nil))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString).txt")
        try "# keys\n\nabc123\n  zz  \n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertEqual(try ServeConfiguration.readAPIKeys(from: file), ["abc123", "zz"])
        try "# none\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ServeConfiguration.readAPIKeys(from: file))
    }

    func testMultipartParser() throws {
        let (body, type) = ServerHarness.multipart([("a.png", "image/png", Data([1, 2, 3])), ("b \"x\".jpg", "image/jpeg", Data())])
        let boundary = try XCTUnwrap(Multipart.boundary(fromContentType: type))
        let parts = try Multipart.parse(body, boundary: boundary)
        XCTAssertEqual(parts.map(\.contentType), ["image/png", "image/jpeg"])
        XCTAssertEqual(parts.first?.filename, "a.png")
        XCTAssertEqual(parts.first?.data, Data([1, 2, 3]))
        XCTAssertEqual(parts.last?.data, Data())
        XCTAssertThrowsError(try Multipart.parse(body.prefix(body.count - 30), boundary: boundary))
        XCTAssertThrowsError(try Multipart.parse(Data("nothing".utf8), boundary: boundary))
        XCTAssertNil(Multipart.boundary(fromContentType: "multipart/form-data"))
        XCTAssertEqual(Multipart.boundary(fromContentType: "multipart/form-data; boundary=\"q\""), "q")
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.lock(); flag = true; lock.unlock() }
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

/// CORS is off unless --cors-origin is given; then that origin (only) gets the headers and preflights answer.
final class CORSTests: XCTestCase {
    func testCORSOffByDefaultAndOnForTheConfiguredOrigin() async throws {
        let off = try await ServerHarness()
        let plain = try await off.request("GET", "/healthz", headers: ["Origin": "https://app.example"])
        try await off.stop()
        XCTAssertNil(plain.header("Access-Control-Allow-Origin"))

        let on = try await ServerHarness { $0.corsOrigin = "https://app.example" }
        let get = try await on.request("GET", "/v1/models", headers: ["Origin": "https://app.example"])
        let preflight = try await on.request("OPTIONS", "/v1/captions", headers: [
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"])
        try await on.stop()
        XCTAssertEqual(get.header("Access-Control-Allow-Origin"), "https://app.example")
        XCTAssertTrue((200..<300).contains(preflight.status), "\(preflight.status) \(preflight.text)")
        XCTAssertEqual(preflight.header("Access-Control-Allow-Origin"), "https://app.example")
        XCTAssertTrue(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
    }
}
