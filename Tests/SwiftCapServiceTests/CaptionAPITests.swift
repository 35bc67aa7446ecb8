import Foundation
import SwiftCapService
import SwiftCapTestSupport
import XCTest

/// `POST /v1/captions` and the other routes over real HTTP against a server in this process.
final class CaptionAPITests: XCTestCase {
    func testBearPhotoGetsABearCaptionWithConceptsBoxesAndTimings() async throws {
        let h = try await ServerHarness()
        let r = try await h.postPhoto(ServerHarness.bear, query: "?boxes=true")
        try await h.stop()
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("application/json") == true)
        let j = try r.json()
        let caption = try XCTUnwrap(j["caption"] as? String)
        XCTAssertTrue(caption.lowercased().contains("bear"), caption)
        XCTAssertEqual(j["model"] as? String, "default")
        XCTAssertTrue((j["keywords"] as? [String])?.contains("bear") == true, "\(j["keywords"] ?? "")")
        let concepts = try XCTUnwrap(j["concepts"] as? [[String: Any]])
        let bear = try XCTUnwrap(concepts.first { $0["name"] as? String == "bear" && $0["kind"] as? String == "object" }, "\(concepts)")
        let box = try XCTUnwrap(bear["box"] as? [String: Double])
        let image = try XCTUnwrap(j["image"] as? [String: Int])
        let width = Double(try XCTUnwrap(image["width"])), height = Double(try XCTUnwrap(image["height"]))
        XCTAssertEqual(width, 586)
        XCTAssertEqual(height, 640)
        XCTAssertLessThan(box["x0"]!, box["x1"]!)
        XCTAssertLessThan(box["y0"]!, box["y1"]!)
        XCTAssertLessThanOrEqual(box["x1"]!, width + 0.5)
        XCTAssertLessThanOrEqual(box["y1"]!, height + 0.5)
        XCTAssertGreaterThan((box["x1"]! - box["x0"]!) * (box["y1"]! - box["y0"]!), 10_000, "the bear fills much of the photo")
        let t = try XCTUnwrap(j["timings_ms"] as? [String: Double])
        XCTAssertEqual(Set(t.keys), ["queue", "decode", "detector", "classifier", "decoder", "total"])
        XCTAssertGreaterThan(t["total"]!, t["detector"]!)
    }

    func testConceptsCanBeLeftOutAndBoxesAreOptIn() async throws {
        let h = try await ServerHarness()
        let plain = try await h.postPhoto(ServerHarness.bear)
        let none = try await h.postPhoto(ServerHarness.bear, query: "?concepts=false&decoder=concepts")
        try await h.stop()
        XCTAssertEqual(plain.status, 200, plain.text)
        let concepts = try XCTUnwrap(try plain.json()["concepts"] as? [[String: Any]])
        XCTAssertFalse(concepts.isEmpty)
        XCTAssertTrue(concepts.allSatisfy { $0["box"] == nil }, "boxes only with boxes=true")
        XCTAssertEqual(none.status, 200, none.text)
        XCTAssertNil(try none.json()["concepts"])
    }

    func testMultipartWithTwoPhotosAnswersBothInOrder() async throws {
        let h = try await ServerHarness()
        let (body, type) = ServerHarness.multipart([
            ("bear.jpg", "image/jpeg", try Data(contentsOf: ServerHarness.bear)),
            ("kitchen.jpg", "image/jpeg", try Data(contentsOf: ServerHarness.photo("000000000139"))),
        ])
        let r = try await h.request("POST", "/v1/captions", body: body, contentType: type)
        try await h.stop()
        XCTAssertEqual(r.status, 200, r.text)
        let results = try XCTUnwrap(try r.json()["results"] as? [[String: Any]])
        XCTAssertEqual(results.compactMap { $0["filename"] as? String }, ["bear.jpg", "kitchen.jpg"])
        XCTAssertTrue((results[0]["caption"] as? String)?.lowercased().contains("bear") == true, "\(results[0])")
        XCTAssertFalse((results[1]["caption"] as? String ?? "").isEmpty)
        XCTAssertNotEqual(results[0]["caption"] as? String, results[1]["caption"] as? String)
    }

    func testBodyOverTheLimitIs413() async throws {
        let h = try await ServerHarness { $0.maxBodyBytes = 100_000 }
        let r = try await h.postPhoto(ServerHarness.bear)  // 335,861 bytes
        let small = try await h.request("POST", "/v1/captions", body: Data(count: 1000), contentType: "image/jpeg")
        try await h.stop()
        XCTAssertEqual(r.status, 413, r.text)
        XCTAssertEqual(r.errorCode, "body_too_large")
        XCTAssertEqual(small.status, 422, "under the limit the body is read: \(small.text)")
        XCTAssertEqual(small.errorCode, "undecodable_photo")
    }

    func testPixelBombIs413BeforeDecoding() async throws {
        let h = try await ServerHarness()
        let r = try await h.request("POST", "/v1/captions", body: pngHeader(width: 50_000, height: 50_000), contentType: "image/png")
        try await h.stop()
        XCTAssertEqual(r.status, 413, r.text)
        XCTAssertEqual(r.errorCode, "pixel_limit")
        XCTAssertTrue(r.text.contains("50000x50000"), r.text)
    }

    func testUnsupportedMediaTypeIs415() async throws {
        let h = try await ServerHarness()
        let text = try await h.request("POST", "/v1/captions", body: Data("hello".utf8), contentType: "text/plain")
        let none = try await h.request("POST", "/v1/captions", body: Data("hello".utf8))
        let gif = try await h.request("POST", "/v1/captions", body: Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8), contentType: "image/gif")
        try await h.stop()
        for r in [text, gif] {
            XCTAssertEqual(r.status, 415, r.text)
            XCTAssertEqual(r.errorCode, "unsupported_media_type")
        }
        XCTAssertEqual(none.status, 415, none.text)
    }

    func testCorruptJPEGIs422AndNamesTheProblem() async throws {
        let h = try await ServerHarness()
        var corrupt = Data([0xFF, 0xD8, 0xFF, 0xE0])
        corrupt.append(Data((0..<2000).map { UInt8(truncatingIfNeeded: $0 &* 37) }))
        let r = try await h.request("POST", "/v1/captions", body: corrupt, contentType: "image/jpeg")
        var truncated = try Data(contentsOf: ServerHarness.bear)
        truncated = truncated.prefix(600)
        let t = try await h.request("POST", "/v1/captions", body: truncated, contentType: "image/jpeg")
        try await h.stop()
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertEqual(r.errorCode, "undecodable_photo")
        let message = try XCTUnwrap((try r.json()["error"] as? [String: Any])?["message"] as? String)
        XCTAssertTrue(message.contains("photo"), message)
        XCTAssertEqual(t.status, 422, t.text)
    }

    func testBadQueryIs400() async throws {
        let h = try await ServerHarness()
        let badBool = try await h.postPhoto(ServerHarness.bear, query: "?boxes=maybe")
        let otherDecoder = try await h.postPhoto(ServerHarness.bear, query: "?decoder=smollm2")
        let unknown = try await h.postPhoto(ServerHarness.bear, query: "?beams=3")
        let (body, type) = ServerHarness.multipart([])
        let emptyMultipart = try await h.request("POST", "/v1/captions", body: body, contentType: type)
        let noBoundary = try await h.request("POST", "/v1/captions", body: Data("x".utf8), contentType: "multipart/form-data")
        try await h.stop()
        for r in [badBool, otherDecoder, unknown, emptyMultipart, noBoundary] {
            XCTAssertEqual(r.status, 400, r.text)
            XCTAssertEqual(r.errorCode, "bad_request", r.text)
        }
        XCTAssertTrue(otherDecoder.text.contains("concepts"), "names the loaded decoder: \(otherDecoder.text)")
    }

    func testFullQueueIs503WithRetryAfterAndAcceptedRequestsStillSucceed() async throws {
        let h = try await ServerHarness { $0.workers = 1; $0.queue = 1 }
        let photo = try Data(contentsOf: ServerHarness.bear)
        let replies = try await withThrowingTaskGroup(of: ServerHarness.Reply.self) { group in
            for _ in 0..<8 {
                group.addTask { try await h.request("POST", "/v1/captions", body: photo, contentType: "image/jpeg") }
            }
            var out: [ServerHarness.Reply] = []
            for try await r in group { out.append(r) }
            return out
        }
        let metrics = try await h.request("GET", "/metrics")
        try await h.stop()
        let rejected = replies.filter { $0.status == 503 }
        let ok = replies.filter { $0.status == 200 }
        XCTAssertEqual(rejected.count + ok.count, 8, replies.map(\.text).joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(ok.count, 2, "the running and the queued photo are answered")
        XCTAssertGreaterThanOrEqual(rejected.count, 1, "8 at once on 1 worker + 1 queue slot")
        for r in rejected {
            XCTAssertEqual(r.errorCode, "queue_full", r.text)
            XCTAssertEqual(r.header("Retry-After"), "1")
        }
        XCTAssertTrue(metrics.text.contains("swiftcap_rejections_total{reason=\"queue_full\"} \(rejected.count)"), metrics.text)
    }

    func testDeadlineIs504() async throws {
        let h = try await ServerHarness { $0.timeoutSeconds = 0.001 }
        let r = try await h.postPhoto(ServerHarness.bear)
        try await h.stop()
        XCTAssertEqual(r.status, 504, r.text)
        XCTAssertEqual(r.errorCode, "timeout")
    }

    func testAPIKeysGuardTheV1Routes() async throws {
        let h = try await ServerHarness { $0.apiKeys = ["first-key-0123456789", "second-key-abcdef"] }
        let missing = try await h.request("GET", "/v1/models")
        let wrong = try await h.request("GET", "/v1/models", headers: ["Authorization": "Bearer first-key-012345678X"])
        let prefix = try await h.request("GET", "/v1/models", headers: ["Authorization": "Bearer first-key"])
        let good = try await h.request("GET", "/v1/models", headers: ["Authorization": "Bearer second-key-abcdef"])
        let captionNoKey = try await h.postPhoto(ServerHarness.bear)
        let captionKey = try await h.postPhoto(ServerHarness.bear, headers: ["Authorization": "Bearer first-key-0123456789"])
        let health = try await h.request("GET", "/healthz")
        try await h.stop()
        for r in [missing, wrong, prefix, captionNoKey] {
            XCTAssertEqual(r.status, 401, r.text)
            XCTAssertEqual(r.errorCode, "unauthorized")
            XCTAssertEqual(r.header("WWW-Authenticate"), "Bearer")
        }
        XCTAssertEqual(good.status, 200, good.text)
        XCTAssertEqual(captionKey.status, 200, captionKey.text)
        XCTAssertEqual(health.status, 200)
    }

    func testUnknownRouteIs404AndWrongMethodIs405AsJSON() async throws {
        let h = try await ServerHarness()
        let notFound = try await h.request("GET", "/v2/nothing")
        let wrongMethod = try await h.request("GET", "/v1/captions")
        let deleteHealth = try await h.request("DELETE", "/healthz")
        try await h.stop()
        XCTAssertEqual(notFound.status, 404)
        XCTAssertEqual(notFound.errorCode, "not_found")
        XCTAssertEqual(wrongMethod.status, 405, wrongMethod.text)
        XCTAssertEqual(wrongMethod.errorCode, "method_not_allowed")
        XCTAssertEqual(wrongMethod.header("Allow"), "POST")
        XCTAssertEqual(deleteHealth.status, 405)
    }

    func testModelsHealthAndPage() async throws {
        let h = try await ServerHarness()
        let models = try await h.request("GET", "/v1/models")
        let health = try await h.request("GET", "/healthz")
        let page = try await h.request("GET", "/")
        try await h.stop()
        XCTAssertEqual(models.status, 200)
        let list = try XCTUnwrap(try models.json()["models"] as? [[String: Any]])
        XCTAssertEqual(list.first?["id"] as? String, "default")
        XCTAssertEqual(list.first?["decoder"] as? String, "concepts")
        XCTAssertEqual(list.first?["ready"] as? Bool, true)
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.header("Content-Type")?.hasPrefix("text/html") == true)
        XCTAssertTrue(page.text.contains("id=\"caption\""))
        // Self-contained: no script, style or font from elsewhere.
        for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(http"] {
            XCTAssertFalse(page.text.contains(external), external)
        }
    }
}
