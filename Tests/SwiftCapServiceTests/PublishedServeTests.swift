import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import SwiftCapImage
import SwiftCapModels
import SwiftCapPipelines
import SwiftCapService
import SwiftCapTensor
import SwiftCapTestSupport
import SwiftCapText
import XCTest

/// The tiny random-weight BLIP fixture captioned straight through the model API (BLIP, WordPiece, `generate`),
/// not through `PublishedCaptioner`: what the server's answers are compared with.
enum BLIPReference {
    static let dir = ServerHarness.root.appendingPathComponent("fixtures/captioners/blip-tiny")
    /// A photo in the repository (so these tests need no ../shared).
    static let photo = ServerHarness.root.appendingPathComponent("fixtures/image/decode/jpeg_baseline_444.jpg")

    static func caption(beams: Int, maxTokens: Int) throws -> (caption: String, tokens: Int) {
        let model = try BLIP(directory: dir)
        let tok = try WordPieceTokenizer(vocabTXT: dir.appendingPathComponent("vocab.txt"))
        let prompt = try model.decoderPrompt(tokenized: tok.encode("a picture of"))
        let device = Device(threads: 1)
        let image = try ImageDecoder().decode(contentsOf: photo)
        let pixels = try device.preprocess(image, recipe: PreprocessRecipe.blip.resized(to: model.config.vision.imageSize))
        let embeds = try model.vision.forward(pixels: pixels, device: device)
        let ids = try model.generate(imageEmbeds: embeds, prompt: prompt,
                                     config: GenerationConfig(maxNewTokens: maxTokens, numBeams: beams), device: device)[0]
        let words = ids.filter { $0 < tok.vocabularySize && $0 != model.config.text.sepTokenId }
        return ("a picture of " + (try tok.decode(words)), ids.count)
    }

    /// A server engine holding the fixture as `serve --arch blip --weights` loads it (beams 3, 20 tokens).
    static func engine() throws -> CaptionEngine {
        var options = PublishedCaptionerOptions()
        options.threads = 1
        let captioner = try PublishedCaptioner(arch: .blip, weights: dir, options: options)
        let engine = CaptionEngine(modelID: "blip-tiny", decoderName: "blip", maxPixels: 50_000_000)
        engine.setReady(.published(captioner))
        return engine
    }
}

/// `swiftcap serve` with a published captioner (the BLIP fixture) and the `beams` / `max_tokens` options.
final class PublishedServeTests: XCTestCase {
    func testPublishedCaptionerAnswersWithItsCaptionModelAndTimings() async throws {
        let h = try await ServerHarness({ $0.workers = 2 }, engine: BLIPReference.engine())
        let r = try await h.postPhoto(BLIPReference.photo)
        let models = try await h.request("GET", "/v1/models")
        let ready = try await h.request("GET", "/readyz")
        try await h.stop()
        XCTAssertEqual(r.status, 200, r.text)
        let j = try r.json()
        let expected = try BLIPReference.caption(beams: 3, maxTokens: 20)
        XCTAssertEqual(j["caption"] as? String, expected.caption)
        XCTAssertEqual(j["tokens"] as? Int, expected.tokens)
        XCTAssertEqual(j["model"] as? String, "blip-tiny")
        XCTAssertNil(j["concepts"], "a generative captioner has no concepts: omitted")
        XCTAssertEqual((j["keywords"] as? [Any])?.count, 0)
        let timings = try XCTUnwrap(j["timings_ms"] as? [String: Double], r.text)
        XCTAssertEqual(Set(timings.keys), ["queue", "decode", "encoder", "decoder", "total"])
        XCTAssertGreaterThan(timings["decoder"] ?? 0, 0)
        XCTAssertGreaterThanOrEqual(timings["total"] ?? 0, (timings["decoder"] ?? 0) + (timings["encoder"] ?? 0))
        let image = try ImageDecoder().decode(contentsOf: BLIPReference.photo)
        XCTAssertEqual(j["image"] as? [String: Int], ["width": image.width, "height": image.height])

        XCTAssertEqual(ready.status, 200, ready.text)
        let list = try XCTUnwrap(try models.json()["models"] as? [[String: Any]], models.text)
        XCTAssertEqual(list.count, 1)
        XCTAssertEqual(list.first?["id"] as? String, "blip-tiny")
        XCTAssertEqual(list.first?["decoder"] as? String, "blip")
        XCTAssertEqual(list.first?["ready"] as? Bool, true)
    }

    /// Each answer equals the library's own `generate` with the same settings; max_tokens bounds the tokens.
    func testBeamsAndMaxTokensGiveWhatGenerateGives() async throws {
        let h = try await ServerHarness({ $0.workers = 2 }, engine: BLIPReference.engine())
        var answers: [String: [String: Any]] = [:]
        let cases: [(query: String, beams: Int, maxTokens: Int)] = [
            ("", 3, 20), ("?max_tokens=3", 3, 3), ("?beams=1", 1, 20), ("?beams=3", 3, 20), ("?beams=1&max_tokens=3", 1, 3),
            ("?beams=2&max_tokens=7&concepts=true&boxes=true&decoder=blip", 2, 7),
        ]
        for c in cases {
            let r = try await h.postPhoto(BLIPReference.photo, query: c.query)
            XCTAssertEqual(r.status, 200, "\(c.query): \(r.text)")
            answers[c.query] = try r.json()
        }
        try await h.stop()
        for c in cases {
            let expected = try BLIPReference.caption(beams: c.beams, maxTokens: c.maxTokens)
            let j = try XCTUnwrap(answers[c.query])
            XCTAssertEqual(j["caption"] as? String, expected.caption, c.query)
            XCTAssertEqual(j["tokens"] as? Int, expected.tokens, c.query)
            XCTAssertLessThanOrEqual(j["tokens"] as? Int ?? .max, c.maxTokens, c.query)
        }
        // The fixture runs on past 3 tokens by default, so max_tokens=3 must change the caption.
        let full = try BLIPReference.caption(beams: 3, maxTokens: 20)
        XCTAssertGreaterThan(full.tokens, 3, "the fixture's default caption is longer than 3 tokens")
        XCTAssertNotEqual(answers["?max_tokens=3"]?["caption"] as? String, answers[""]?["caption"] as? String)
        XCTAssertEqual(answers["?beams=3"]?["caption"] as? String, answers[""]?["caption"] as? String, "beams=3 is the loaded default")
    }

    /// Workers share one loaded model, each with its own Device: concurrent requests with other settings
    /// still get exactly their own answers.
    func testConcurrentRequestsWithDifferentSettingsShareOneModel() async throws {
        let h = try await ServerHarness({ $0.workers = 2; $0.queue = 16 }, engine: BLIPReference.engine())
        let settings = (0..<8).map { i in (beams: i % 2 == 0 ? 1 : 3, maxTokens: [2, 5, 9, 20][i % 4]) }
        let replies = try await withThrowingTaskGroup(of: (Int, ServerHarness.Reply).self) { group in
            for (i, s) in settings.enumerated() {
                group.addTask { (i, try await h.postPhoto(BLIPReference.photo, query: "?beams=\(s.beams)&max_tokens=\(s.maxTokens)")) }
            }
            var out: [Int: ServerHarness.Reply] = [:]
            for try await (i, r) in group { out[i] = r }
            return out
        }
        try await h.stop()
        for (i, s) in settings.enumerated() {
            let r = try XCTUnwrap(replies[i])
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(try r.json()["caption"] as? String, try BLIPReference.caption(beams: s.beams, maxTokens: s.maxTokens).caption, "\(s)")
        }
    }

    func testOutOfRangeOrNonIntegerOptionsAre400NamingTheParameterAndRange() async throws {
        let h = try await ServerHarness(engine: BLIPReference.engine())
        let bad = ["beams=0", "beams=17", "beams=two", "beams=1.5", "beams=", "beams=%2B%2B3",
                   "max_tokens=0", "max_tokens=129", "max_tokens=-3", "max_tokens=3e1", "max_tokens=99999999999999999999999"]
        var replies: [(String, ServerHarness.Reply)] = []
        for q in bad { replies.append((q, try await h.postPhoto(BLIPReference.photo, query: "?" + q))) }
        let otherDecoder = try await h.postPhoto(BLIPReference.photo, query: "?decoder=concepts")
        let unknown = try await h.postPhoto(BLIPReference.photo, query: "?beam=3")
        try await h.stop()
        for (q, r) in replies {
            XCTAssertEqual(r.status, 400, "\(q): \(r.text)")
            XCTAssertEqual(r.errorCode, "bad_request", q)
            XCTAssertTrue(r.header("Content-Type")?.hasPrefix("application/json") == true, q)
            let message = ((try? r.json())?["error"] as? [String: Any])?["message"] as? String ?? ""
            let name = String(q.prefix { $0 != "=" })
            XCTAssertTrue(message.contains("query parameter \(name) must be an integer"), "\(q): \(message)")
            XCTAssertTrue(message.contains(name == "beams" ? "from 1 to 16" : "from 1 to 128"), "\(q): \(message)")
        }
        XCTAssertEqual(otherDecoder.status, 400, otherDecoder.text)
        XCTAssertTrue(otherDecoder.text.contains("this server runs 'blip'"), otherDecoder.text)
        XCTAssertEqual(unknown.status, 400, unknown.text)
        XCTAssertTrue(unknown.text.contains("beams, max_tokens"), unknown.text)
    }

    /// The default captioner's concepts decoder picks a caption from the datastore: beams and max_tokens are
    /// refused with the reason, never silently ignored.
    func testBeamsAndMaxTokensOnTheConceptsDecoderAre400WithTheReason() async throws {
        let h = try await ServerHarness()
        let beams = try await h.postPhoto(ServerHarness.bear, query: "?beams=3")
        let tokens = try await h.postPhoto(ServerHarness.bear, query: "?max_tokens=5")
        let plain = try await h.postPhoto(ServerHarness.bear)
        try await h.stop()
        XCTAssertEqual(beams.status, 400, beams.text)
        XCTAssertTrue(beams.text.contains("beams does not apply") && beams.text.contains("'concepts' decoder"), beams.text)
        XCTAssertEqual(tokens.status, 400, tokens.text)
        XCTAssertTrue(tokens.text.contains("max_tokens does not apply"), tokens.text)
        XCTAssertEqual(plain.status, 200, plain.text)
        XCTAssertNil(try plain.json()["tokens"], "no token count from a retrieval decoder")
    }

    /// A full queue answers 503 from the request head alone and ends the connection without reading the
    /// upload: the client sends 64 KiB of a declared 8 MiB body and still gets the 503 and the end of the stream
    /// at once (a server that read the body would wait for the other 8 MiB).
    func testFullQueueAnswers503WithoutReadingTheUploadAndClosesTheConnection() async throws {
        let h = try await ServerHarness({ $0.workers = 1; $0.queue = 0 }, engine: BLIPReference.engine())
        let pool = h.server.workerPool
        let gate = DispatchSemaphore(value: 0)
        let blocker = Task { try await pool.run(timeout: nil) { _ in gate.wait(); return 0 } }
        for _ in 0..<500 where !pool.isFull { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertTrue(pool.isFull, "the one worker is busy and the queue holds nothing more")
        let head = "POST /v1/captions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: \(8 << 20)\r\n\r\n"
        let start = Date()
        let received = try RawHTTP.exchange(port: h.port, send: Data(head.utf8) + Data(repeating: 0xFF, count: 64 << 10), deadline: 5)
        let elapsed = Date().timeIntervalSince(start)
        gate.signal()
        _ = try await blocker.value
        let retry = try await h.postPhoto(BLIPReference.photo)
        try await h.stop()
        let text = String(decoding: received.data, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 503"), text)
        XCTAssertTrue(text.lowercased().contains("connection: close"), text)
        XCTAssertTrue(text.lowercased().contains("retry-after: 1"), text)
        XCTAssertTrue(text.contains("\"queue_full\""), text)
        XCTAssertTrue(received.endOfStream, "the server ended the connection after the 503; got \(text)")
        XCTAssertLessThan(elapsed, 1.5, "503 and end of stream at once, not after the linger or a read of the body")
        XCTAssertEqual(retry.status, 200, "the server captions again once the worker is free: \(retry.text)")
    }

    /// Graceful shutdown: a response written while the server stops says `Connection: close`, so a keep-alive
    /// client does not send its next request on a connection that is about to close.
    func testResponsesDuringShutdownSayConnectionClose() async throws {
        let h = try await ServerHarness({ $0.workers = 1 }, engine: BLIPReference.engine())
        let before = try await h.postPhoto(BLIPReference.photo)
        let pool = h.server.workerPool
        let gate = DispatchSemaphore(value: 0)
        let blocker = Task { try await pool.run(timeout: nil) { _ in gate.wait(); return 0 } }
        for _ in 0..<500 where !pool.isFull { try await Task.sleep(nanoseconds: 2_000_000) }
        let photo = try Data(contentsOf: BLIPReference.photo)
        async let inFlight = h.request("POST", "/v1/captions", body: photo, contentType: "image/jpeg")
        for _ in 0..<500 where pool.depth == 0 { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertEqual(pool.depth, 1, "the photo waits behind the blocked worker")
        let stopping = Task { try await h.stop() }
        try await Task.sleep(nanoseconds: 200_000_000)
        gate.signal()
        _ = try await blocker.value
        let r = try await inFlight
        try await stopping.value
        XCTAssertEqual(before.status, 200)
        XCTAssertNotEqual(before.header("Connection")?.lowercased(), "close", "keep-alive while serving")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.header("Connection")?.lowercased(), "close", "\(r.headers)")
    }
}

/// One HTTP/1.1 exchange over a plain socket: sends `send`, then reads until the server ends the stream or
/// `deadline` seconds pass (URLSession hides whether and when a connection ends).
enum RawHTTP {
    struct Received { var data: Data; var endOfStream: Bool }

    static func exchange(port: Int, send bytes: Data, deadline: Double) throws -> Received {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        // The server may stop reading (and close) before everything is sent: a short send is not an error here.
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out = Data()
        let end = Date().addingTimeInterval(deadline)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < end {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, end.timeIntervalSinceNow * 1000))
            guard poll(&p, 1, ms) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { out.append(contentsOf: buffer[0..<n]); continue }
            return Received(data: out, endOfStream: true)  // 0: end of stream; < 0: reset after the answer
        }
        return Received(data: out, endOfStream: false)
    }
}
