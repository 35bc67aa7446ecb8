import Foundation
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

/// Repository → captioner: known names, config.json, a lone .pt; only the needed files; companions
/// (GPT-2 tokenizer, CLIP) fetched; everything found again offline without a request.
final class PublishedModelsTests: XCTestCase {
    var hub: FakeHub!
    var cacheDir: URL!
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("published-\(UUID().uuidString)")
        let gpt2 = work.appendingPathComponent("gpt2"), clip = work.appendingPathComponent("clip")
        for d in [gpt2, clip] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try Data(#"{"a": 0}"#.utf8).write(to: gpt2.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: gpt2.appendingPathComponent("merges.txt"))
        try Data(repeating: 7, count: 5000).write(to: gpt2.appendingPathComponent("pytorch_model.bin"))
        try Data(#"{"model_type": "clip"}"#.utf8).write(to: clip.appendingPathComponent("config.json"))
        try Data(repeating: 1, count: 3000).write(to: clip.appendingPathComponent("model.safetensors"))
        try Data(repeating: 2, count: 3000).write(to: clip.appendingPathComponent("pytorch_model.bin"))
        let captioners = repoRoot.appendingPathComponent("fixtures/captioners")
        hub = try FakeHub(repos: ["Yova/SmallCap7M": captioners.appendingPathComponent("smallcap-tiny"),
                                  "someone/coco-clipcap": captioners.appendingPathComponent("clipcap-mlp"),
                                  "someone/my-blip": captioners.appendingPathComponent("blip-tiny"),
                                  "openai-community/gpt2": gpt2, "openai/clip-vit-base-patch32": clip])
        cacheDir = try temporaryCache()
    }

    override func tearDown() {
        hub?.stop()
        for u in [cacheDir, work].compactMap({ $0 }) { try? FileManager.default.removeItem(at: u) }
    }

    func client(offline: Bool = false) -> HubClient {
        HubClient(environment: HubEnvironment(cacheDirectory: cacheDir, endpoint: hub.endpoint, offline: offline))
    }

    func files(_ folder: URL?) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder?.path ?? "")) ?? []).sorted() }

    func testSmallCapGetsItsWeightsAndTheGPT2Tokenizer() throws {
        let r = try PublishedModels.resolve(RepoID(parsing: "Yova/SmallCap7M"), client: client())
        XCTAssertEqual(r.architecture, .smallcap)
        XCTAssertTrue(r.reason.contains("known smallcap"), r.reason)
        XCTAssertEqual(files(r.weights), ["config.json", "model.safetensors"], "safetensors preferred, pytorch_model.bin and expected.json not fetched")
        XCTAssertEqual(files(r.tokenizer), ["merges.txt", "vocab.json"], "only the tokenizer of openai-community/gpt2")
        XCTAssertTrue(r.tokenizer!.path.contains("models--openai-community--gpt2/snapshots/"))
        XCTAssertNil(r.clip)
        let requests = try hub.log().count
        let again = try PublishedModels.resolve(RepoID(parsing: "Yova/SmallCap7M"), client: client(offline: true))
        XCTAssertEqual(again.weights, r.weights)
        XCTAssertEqual(again.tokenizer, r.tokenizer)
        XCTAssertEqual(try hub.log().count, requests, "offline resolution made a request")
    }

    func testClipCapFromALonePtWithCLIPAndTokenizer() throws {
        let r = try PublishedModels.resolve(RepoID(parsing: "someone/coco-clipcap"), client: client())
        XCTAssertEqual(r.architecture, .clipcap)
        XCTAssertTrue(r.reason.contains("model.pt"), r.reason)
        XCTAssertEqual(files(r.weights), ["model.pt"])
        XCTAssertEqual(files(r.clip), ["config.json", "model.safetensors"])
        XCTAssertEqual(files(r.tokenizer), ["merges.txt", "vocab.json"])
    }

    func testUnknownNameRecognisedFromConfigAndOverride() throws {
        let r = try PublishedModels.resolve(RepoID(parsing: "someone/my-blip"), client: client())
        XCTAssertEqual(r.architecture, .blip)
        XCTAssertEqual(r.reason, "someone/my-blip/config.json")
        XCTAssertEqual(files(r.weights), ["config.json", "generation_config.json", "model.safetensors", "vocab.txt"])
        XCTAssertThrowsError(try PublishedModels.architecture(configJSON: Data(#"{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}"#.utf8), file: "x/config.json")) { e in
            XCTAssertTrue("\(e)".contains("GPT2LMHeadModel") && "\(e)".contains("model_type gpt2"), "\(e)")
        }
        // Nothing cached, offline: the error names the missing ref.
        try FileManager.default.removeItem(at: cacheDir)
        XCTAssertThrowsError(try PublishedModels.resolve(RepoID(parsing: "someone/my-blip"), client: client(offline: true))) { e in
            guard case HubError.offlineMissing = e else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("models--someone--my-blip/refs/main"), "\(e)")
        }
    }
}
