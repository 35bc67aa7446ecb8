import XCTest
import SwiftCapTestSupport
@testable import SwiftCapPipelines
import SwiftCapTensor
import SwiftCapImage

/// End to end: a real coco-dev photo through PicoDet + EfficientNet-Lite0 into both decoders, over a
/// small datastore built here. Needs ../shared (detector, photos) and the fetched assets (classifier).
final class DefaultCaptionerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func paths() throws -> AssetPaths {
        let p = AssetPaths.fromEnvironment(repositoryRoot: Self.root)
        let photo = p.sharedFile("eval/coco-dev/images/000000000285.jpg")
        try requireInput(FileManager.default.fileExists(atPath: photo.path), "needs ../shared (coco-dev photos)")
        try requireInput(FileManager.default.fileExists(atPath: p.asset("efficientnet-lite0").path), "needs scripts/fetch-assets.sh")
        return p
    }

    static func makeStore() throws -> URL {
        let corpus = CaptionCorpus(captions: [
            CorpusCaption(imageID: 1, text: "A large brown bear walking through the grass."),
            CorpusCaption(imageID: 1, text: "A brown bear standing in a grassy field"),
            CorpusCaption(imageID: 2, text: "A bear sitting on a rock near the water"),
            CorpusCaption(imageID: 3, text: "Two dogs playing with a frisbee in a park"),
            CorpusCaption(imageID: 4, text: "A plate of food with broccoli and rice"),
            CorpusCaption(imageID: 5, text: "A man riding a wave on top of a surfboard"),
        ])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-e2e-\(UUID().uuidString).scds")
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: url)
        return url
    }

    func testRetrievalDecoderCaptionsABear() throws {
        let p = try Self.paths()
        let store = try Self.makeStore()
        defer { try? FileManager.default.removeItem(at: store) }
        let captioner = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 2), decoderKind: .retrieval)
        let out = try captioner.describe(imageAt: p.sharedFile("eval/coco-dev/images/000000000285.jpg"))
        XCTAssertTrue(out.evidence.contains { $0.name == "bear" && $0.score > 0.5 }, "\(out.evidence)")
        XCTAssertTrue(out.caption.lowercased().contains("bear"), out.caption)
        XCTAssertEqual(out.query.keys.sorted(), ["bear"])
        XCTAssertGreaterThan(out.timings.total, 0)
    }

    /// The shipped concept head and training-photo features (models/) on the bear photo, over the small store.
    func testConceptAndNeighbourDecodersCaptionABear() throws {
        let p = try Self.paths()
        let head = Self.root.appendingPathComponent("models/concept-head.safetensors")
        try requireInput(FileManager.default.fileExists(atPath: head.path), "no trained concept head in models/")
        let store = try Self.makeStore()
        defer { try? FileManager.default.removeItem(at: store) }
        var config = ConceptRetrievalCaptioner.Config()
        config.pool = 4
        let captioner = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 2), decoderKind: .concepts,
                                             conceptHead: head, conceptConfig: config)
        XCTAssertNotNil(captioner.concepts)
        let out = try captioner.describe(imageAt: p.sharedFile("eval/coco-dev/images/000000000285.jpg"))
        XCTAssertTrue(out.caption.lowercased().contains("bear"), out.caption)
        XCTAssertGreaterThan(out.query["bear"] ?? 0, 0.5, "\(out.query)")
        XCTAssertTrue(out.evidence.contains { $0.name == "bear" }, "\(out.evidence)")
        // The neighbours baseline needs the training photos' ids in the datastore: the small store has none,
        // so it must still answer (an empty pool gives an empty caption, not a crash).
        let knn = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), decoderKind: .neighbours, conceptHead: head)
        XCTAssertNotNil(knn.neighbours)
        XCTAssertNoThrow(try knn.describe(imageAt: p.sharedFile("eval/coco-dev/images/000000000285.jpg")))
        // Without the head: a clear error, or the retrieval decoder with a warning when falling back is allowed.
        let missing = URL(fileURLWithPath: "/nonexistent/concept-head.safetensors")
        XCTAssertThrowsError(try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), conceptHead: missing)) {
            XCTAssertTrue("\($0)".contains("configs/concepts.json"), "\($0)")
        }
        let fallback = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), conceptHead: missing, fallBackToRetrieval: true)
        XCTAssertNil(fallback.concepts)
        XCTAssertTrue(fallback.warnings.contains { $0.contains("retrieval decoder") }, "\(fallback.warnings)")
    }

    func testGenerativeDecoderWritesASentence() throws {
        let p = try Self.paths()
        let model = Self.root.appendingPathComponent("models/concept-decoder.safetensors")
        try requireInput(FileManager.default.fileExists(atPath: model.path), "no trained weights in models/")
        let store = try Self.makeStore()
        defer { try? FileManager.default.removeItem(at: store) }
        let captioner = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 2),
                                             decoderKind: .generative, model: model)
        let out = try captioner.describe(imageAt: p.sharedFile("eval/coco-dev/images/000000000285.jpg"))
        XCTAssertGreaterThanOrEqual(out.caption.split(separator: " ").count, 3, out.caption)
        XCTAssertTrue(out.caption.lowercased().contains("bear"), out.caption)
    }

    /// `serve`'s per-request beams / max_tokens: the generative decoder takes both (a copy; the loaded one is
    /// unchanged), the retrieval decoder has neither.
    func testDecodingSettingsReachTheGenerativeDecoderOnly() throws {
        let p = try Self.paths()
        let model = Self.root.appendingPathComponent("models/concept-decoder.safetensors")
        try requireInput(FileManager.default.fileExists(atPath: model.path), "no trained weights in models/")
        let store = try Self.makeStore()
        defer { try? FileManager.default.removeItem(at: store) }
        var config = GenerativeCaptioner.hybridDefaults
        config.retrievedCandidates = 0  // the beam's captions only, so the word limit bounds the answer
        let captioner = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 2),
                                             decoderKind: .generative, model: model, generativeConfig: config)
        XCTAssertTrue(captioner.decodingSettings == (true, true))
        let short = captioner.decoding(beams: 2, maxTokens: 3)
        XCTAssertEqual(short.generative?.config.beams, 2)
        XCTAssertEqual(short.generative?.config.maxWords, 3)
        XCTAssertEqual(captioner.generative?.config.beams, config.beams, "the loaded captioner is unchanged")
        XCTAssertEqual(captioner.generative?.config.maxWords, config.maxWords)
        let photo = p.sharedFile("eval/coco-dev/images/000000000285.jpg")
        let full = try captioner.describe(imageAt: photo).caption
        let limited = try short.describe(imageAt: photo).caption
        XCTAssertGreaterThan(full.split(separator: " ").count, 3, full)
        XCTAssertLessThanOrEqual(limited.split(separator: " ").count, 3, limited)
        let retrieval = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), decoderKind: .retrieval)
        XCTAssertTrue(retrieval.decodingSettings == (false, false))
    }

    func testMissingPiecesGiveClearErrors() throws {
        let p = try Self.paths()
        XCTAssertThrowsError(try DefaultCaptioner(paths: p, datastore: URL(fileURLWithPath: "/nonexistent.scds"), device: Device(threads: 1))) {
            XCTAssertTrue("\($0)".contains("swiftcap index build"), "\($0)")
        }
        let store = try Self.makeStore()
        defer { try? FileManager.default.removeItem(at: store) }
        XCTAssertThrowsError(try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), decoderKind: .generative,
                                                  model: URL(fileURLWithPath: "/nonexistent.safetensors"))) {
            XCTAssertTrue("\($0)".contains("/nonexistent.safetensors"), "\($0)")
        }
        let fallback = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), decoderKind: .generative,
                                            model: URL(fileURLWithPath: "/nonexistent.safetensors"), fallBackToRetrieval: true)
        XCTAssertNil(fallback.generative)
        XCTAssertTrue(fallback.warnings.contains { $0.contains("retrieval decoder") })
        // A photo that is not an image is an error naming the file, not a crash.
        let readme = Self.root.appendingPathComponent("README.md")
        XCTAssertThrowsError(try fallback.describe(imageAt: readme)) { XCTAssertTrue("\($0)".contains("README.md"), "\($0)") }
    }

    func testTidy() {
        XCTAssertEqual(CaptionCorpus.tidy("THERE IS A HORSE IN THE FIELD."), "There is a horse in the field")
        XCTAssertEqual(CaptionCorpus.tidy("  a dog  on a TV. "), "A dog on a TV")
    }
}

/// The default captioner as a batch job's captioner: two workers sharing one loaded model give the same
/// captions as one-at-a-time `describe`, and keywords come from the photo's concepts.
final class DefaultBatchCaptionerTests: XCTestCase {
    func testSharedModelWorkersMatchOneAtATimeCaptions() throws {
        let p = try DefaultCaptionerTests.paths()
        let head = DefaultCaptionerTests.root.appendingPathComponent("models/concept-head.safetensors")
        try requireInput(FileManager.default.fileExists(atPath: head.path), "no trained concept head in models/")
        let store = try DefaultCaptionerTests.makeStore()
        defer { try? FileManager.default.removeItem(at: store) }
        var config = ConceptRetrievalCaptioner.Config()
        config.pool = 4
        let captioner = try DefaultCaptioner(paths: p, datastore: store, device: Device(threads: 1), decoderKind: .concepts,
                                             conceptHead: head, conceptConfig: config)
        let photos = try ImageDecoder.photoFiles(in: p.sharedFile("eval/coco-dev/images")).prefix(8).map(\.path)
        let sequential = try photos.map { try captioner.describe(imageAt: URL(fileURLWithPath: $0)).caption }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("batch-e2e-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: out) }
        let batch = DefaultBatchCaptioner(captioner: captioner, workers: 2, threads: 2)
        let s = try BatchRunner(workers: 2, prefetch: 2).run(photos: photos, captioner: batch, journal: try ResultJournal(url: out))
        XCTAssertEqual(s.failed, 0)
        let records = try ResultJournal.read(out)
        XCTAssertEqual(records.map(\.path), photos)
        XCTAssertEqual(records.map(\.caption), sequential)
        let bear = try XCTUnwrap(records.first { $0.path.hasSuffix("000000000285.jpg") })
        XCTAssertTrue(bear.keywords.contains("bear"), "\(bear.keywords)")
        XCTAssertEqual(Set(bear.keywords).count, bear.keywords.count)
        XCTAssertLessThanOrEqual(bear.keywords.count, 12)
    }
}
