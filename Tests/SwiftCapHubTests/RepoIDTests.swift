import Foundation
import XCTest
import SwiftCapHub

final class RepoIDTests: XCTestCase {
    func testParsing() throws {
        let a = try RepoID(parsing: "Salesforce/blip-image-captioning-base")
        XCTAssertEqual(a.id, "Salesforce/blip-image-captioning-base")
        XCTAssertEqual(a.revision, "main")
        XCTAssertEqual(a.cacheFolderName, "models--Salesforce--blip-image-captioning-base")
        let b = try RepoID(parsing: "Yova/SmallCap7M@v1.0")
        XCTAssertEqual(b.revision, "v1.0")
        XCTAssertFalse(b.revisionIsCommit)
        let c = try RepoID(parsing: "openai/clip-vit-base-patch32@" + String(repeating: "ab", count: 20))
        XCTAssertTrue(c.revisionIsCommit)
        XCTAssertEqual(try RepoID(parsing: "a/b@refs/pr/1").revision, "refs/pr/1")
    }

    func testErrorsNameTheProblem() {
        let cases: [(String, String)] = [
            ("blip", "no '/'"), ("a/b/c", "more than one '/'"), ("/b", "empty organisation"), ("a/", "empty name"),
            ("a/b@", "empty revision"), ("a b/c", "may only hold"), ("a/b--c", "'--'"), ("a/..b", "'..'"), ("a/b@../x", "revision"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try RepoID(parsing: text), text) { e in
                guard case HubError.invalidRepoID = e else { return XCTFail("\(text): \(e)") }
                XCTAssertTrue("\(e)".contains(fragment), "\(text): \(e)")
                XCTAssertTrue("\(e)".contains("ORG/NAME"), "\(e)")
            }
        }
        XCTAssertFalse(RepoID.looksLikeRepoID("models/concept-decoder.safetensors"))
        XCTAssertFalse(RepoID.looksLikeRepoID("runs/decoder.bin"))
        XCTAssertFalse(RepoID.looksLikeRepoID("./a/b"))
        XCTAssertTrue(RepoID.looksLikeRepoID("Salesforce/blip-image-captioning-large"))
    }

    func testEnvironmentFollowsHuggingFaceHub() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent("hf"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        var e = HubEnvironment.fromEnvironment(["HOME": home.path])
        XCTAssertEqual(e.cacheDirectory.path, home.path + "/.cache/huggingface/hub")
        XCTAssertEqual(e.endpoint.absoluteString, "https://huggingface.co")
        XCTAssertNil(e.token)
        XCTAssertFalse(e.offline)
        try "hf_fromFile\n".write(to: home.appendingPathComponent("hf/token"), atomically: true, encoding: .utf8)
        e = HubEnvironment.fromEnvironment(["HOME": home.path, "HF_HOME": home.path + "/hf", "HF_ENDPOINT": "http://127.0.0.1:9/", "HF_HUB_OFFLINE": "1"])
        XCTAssertEqual(e.cacheDirectory.path, home.path + "/hf/hub")
        XCTAssertEqual(e.endpoint.absoluteString, "http://127.0.0.1:9")
        XCTAssertEqual(e.token, "hf_fromFile")
        XCTAssertTrue(e.offline)
        XCTAssertFalse("\(e)".contains("hf_fromFile"), "the token is never printed")
        e = HubEnvironment.fromEnvironment(["HOME": home.path, "HF_HOME": home.path + "/hf", "HF_HUB_CACHE": "/x/cache", "HF_TOKEN": "hf_env"])
        XCTAssertEqual(e.cacheDirectory.path, "/x/cache")
        XCTAssertEqual(e.token, "hf_env")
    }

    /// `--include` follows huggingface_hub's allow_patterns (fnmatch; '*' crosses '/'; "dir/" = everything below).
    func testIncludePatterns() {
        XCTAssertTrue(HubClient.matches("config.json", patterns: []))
        XCTAssertTrue(HubClient.matches("sub/a.json", patterns: ["*.json"]))
        XCTAssertTrue(HubClient.matches("onnx/model.onnx", patterns: ["onnx/"]))
        XCTAssertTrue(HubClient.matches("model-00001-of-00002.safetensors", patterns: ["model-0000[0-9]-*"]))
        XCTAssertFalse(HubClient.matches("model.safetensors", patterns: ["*.bin", "*.json"]))
    }
}
