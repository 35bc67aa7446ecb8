import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import SwiftCapPipelines
import SwiftCapService
import SwiftCapTensor
import SwiftCapTestSupport
import XCTest

/// A real server in this process on 127.0.0.1 with a free port, called over HTTP with URLSession.
final class ServerHarness: @unchecked Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var paths: AssetPaths { AssetPaths.fromEnvironment(repositoryRoot: root) }
    static func photo(_ id: String) -> URL { paths.sharedFile("eval/coco-dev/images/\(id).jpg") }
    static var bear: URL { photo("000000000285") }

    /// The shipped concept head over a small datastore (as DefaultCaptionerTests does): loads in seconds.
    static let captioner: Result<DefaultCaptioner, Error> = Result {
        let p = paths
        try requireInput(FileManager.default.fileExists(atPath: bear.path), "needs ../shared (coco-dev photos)")
        try requireInput(FileManager.default.fileExists(atPath: p.asset("efficientnet-lite0").path), "needs scripts/fetch-assets.sh")
        let head = root.appendingPathComponent("models/concept-head.safetensors")
        try requireInput(FileManager.default.fileExists(atPath: head.path), "no trained concept head in models/")
        let corpus = CaptionCorpus(captions: [
            CorpusCaption(imageID: 1, text: "A large brown bear walking through the grass."),
            CorpusCaption(imageID: 1, text: "A brown bear standing in a grassy field"),
            CorpusCaption(imageID: 2, text: "A bear sitting on a rock near the water"),
            CorpusCaption(imageID: 3, text: "Two dogs playing with a frisbee in a park"),
            CorpusCaption(imageID: 4, text: "A plate of food with broccoli and rice"),
            CorpusCaption(imageID: 5, text: "A man riding a wave on top of a surfboard"),
            CorpusCaption(imageID: 6, text: "A man in a suit standing in a kitchen"),
        ])
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-serve-\(UUID().uuidString).scds")
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: store)
        defer { try? FileManager.default.removeItem(at: store) }
        var config = ConceptRetrievalCaptioner.Config()
        config.pool = 4
        return try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), decoderKind: .concepts,
                                    conceptHead: head, conceptConfig: config)
    }

    let server: CaptionServer
    let port: Int
    let session: URLSession
    private let task: Task<Void, Error>

    /// Starts a server; `loaded` false leaves the engine loading (for /readyz). `engine`: another captioner than
    /// the default one (a published model), already set up by the caller.
    init(_ configure: (inout ServeConfiguration) -> Void = { _ in }, loaded: Bool = true, engine given: CaptionEngine? = nil) async throws {
        var config = ServeConfiguration()
        config.port = 0
        config.workers = 2
        config.threadsPerWorker = 1
        configure(&config)
        let engine = given ?? CaptionEngine(decoderName: "concepts", maxPixels: config.maxPixels)
        if loaded && given == nil { engine.setReady(try Self.captioner.get()) }
        var logger = Logger(label: "swiftcap.serve.test")
        logger.logLevel = .warning
        server = try CaptionServer(configuration: config, engine: engine, logger: logger)
        let server = self.server
        task = Task { try await server.run(handleSignals: false) }
        port = await server.listeningPort()
        let sc = URLSessionConfiguration.ephemeral
        sc.httpMaximumConnectionsPerHost = 32
        sc.timeoutIntervalForRequest = 120
        session = URLSession(configuration: sc)
    }

    /// Graceful shutdown; returns when `run()` has returned.
    func stop() async throws {
        await server.shutdown()
        try await task.value
        session.finishTasksAndInvalidate()
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? [String: Any], text)
        }
        var errorCode: String? { ((try? json())?["error"] as? [String: Any])?["code"] as? String }
        func header(_ name: String) -> String? {
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil,
                 headers: [String: String] = [:]) async throws -> Reply {
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        r.httpMethod = method
        r.httpBody = body
        if let contentType { r.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
        let (data, response) = try await session.data(for: r)
        let http = try XCTUnwrap(response as? HTTPURLResponse)
        var h: [String: String] = [:]
        for (k, v) in http.allHeaderFields { h["\(k)"] = "\(v)" }
        return Reply(status: http.statusCode, headers: h, body: data)
    }

    func postPhoto(_ url: URL, query: String = "", contentType: String = "image/jpeg", headers: [String: String] = [:]) async throws -> Reply {
        try await request("POST", "/v1/captions\(query)", body: try Data(contentsOf: url), contentType: contentType, headers: headers)
    }

    static func multipart(_ files: [(name: String, type: String, data: Data)], boundary: String = "swiftcap-test-boundary-7f3a") -> (Data, String) {
        var body = Data()
        for f in files {
            body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"\(f.name)\"\r\nContent-Type: \(f.type)\r\n\r\n".utf8))
            body.append(f.data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return (body, "multipart/form-data; boundary=\(boundary)")
    }
}

/// A 57-byte PNG (signature, IHDR, empty IDAT, IEND; valid CRCs) whose header claims `width` × `height` pixels.
func pngHeader(width: UInt32, height: UInt32) -> Data {
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
    var d = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    func chunk(_ type: String, _ payload: [UInt8]) {
        let body = Data(type.utf8) + Data(payload)
        d.append(contentsOf: be(UInt32(payload.count)))
        d.append(body)
        d.append(contentsOf: be(crc32(body)))
    }
    chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])  // 8-bit RGB, deflate, no filter, no interlace
    chunk("IDAT", [])
    chunk("IEND", [])
    return d
}

func crc32(_ data: Data) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in data {
        c ^= UInt32(b)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }
    return c ^ 0xFFFF_FFFF
}
