import Foundation
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

/// `swiftcap models …` and `swiftcap caption --model ORG/NAME` run as a user runs them, against the fake hub.
final class ModelsCLITests: XCTestCase {
    var hub: FakeHub!
    var cacheDir: URL!
    var work: URL!
    let photo = repoRoot.appendingPathComponent("fixtures/image/decode/jpeg_exif_2.jpg")

    func binary() throws -> URL {
        let url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftcap")
        try requireInput(FileManager.default.isExecutableFile(atPath: url.path), "no swiftcap binary beside the tests (run `swift build` first)")
        return url
    }

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("modelscli-\(UUID().uuidString)")
        let bert = work.appendingPathComponent("bert")
        try FileManager.default.createDirectory(at: bert, withIntermediateDirectories: true)
        try Data(#"{"architectures": ["BertModel"], "model_type": "bert"}"#.utf8).write(to: bert.appendingPathComponent("config.json"))
        try Data("x".utf8).write(to: bert.appendingPathComponent("model.safetensors"))
        hub = try FakeHub(repos: ["Salesforce/blip-image-captioning-base": blipFixture, "acme/private-blip": blipFixture, "acme/bert": bert],
                          privateRepos: ["acme/private-blip"])
        cacheDir = try temporaryCache()
    }

    override func tearDown() {
        hub?.stop()
        for u in [cacheDir, work].compactMap({ $0 }) { try? FileManager.default.removeItem(at: u) }
    }

    func swiftcap(_ args: [String], token: String? = nil, offline: Bool = false) throws -> ProcessResult {
        var env = ["HF_HUB_CACHE": cacheDir.path, "HF_ENDPOINT": hub.endpoint.absoluteString, "HF_HOME": work.path,
                   "HF_TOKEN": token ?? "", "HF_HUB_OFFLINE": offline ? "1" : "0"]
        env["HUGGING_FACE_HUB_TOKEN"] = ""
        return try runProcess(try binary(), args, env: env)
    }

    func testPullListPathRemove() throws {
        let denied = try swiftcap(["models", "pull", "acme/private-blip"])
        XCTAssertEqual(denied.status, 1)
        XCTAssertTrue(denied.stderr.contains("HTTP 401") && denied.stderr.contains("HF_TOKEN"), denied.stderr)

        let pull = try swiftcap(["models", "pull", "acme/private-blip", "--parallel", "3"], token: FakeHub.token)
        XCTAssertEqual(pull.status, 0, pull.stderr)
        let snapshot = pull.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(snapshot.hasPrefix(cacheDir.path + "/models--acme--private-blip/snapshots/"), snapshot)
        XCTAssertTrue(FileManager.default.fileExists(atPath: snapshot + "/model.safetensors"))
        XCTAssertTrue(pull.stderr.contains("100%") && pull.stderr.contains("5/5 files") && pull.stderr.contains("/s"), pull.stderr)
        for out in [pull.stdout, pull.stderr, denied.stderr] { XCTAssertFalse(out.contains(FakeHub.token), "token printed") }

        let list = try swiftcap(["models", "list"], offline: true)
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("acme/private-blip\t") && list.stdout.contains("\tmain\t5\t"), list.stdout)
        let path = try swiftcap(["models", "path", "acme/private-blip"], offline: true)
        XCTAssertEqual(path.stdout.trimmingCharacters(in: .whitespacesAndNewlines), snapshot)

        let rm = try swiftcap(["models", "rm", "acme/private-blip"])
        XCTAssertEqual(rm.status, 0, rm.stderr)
        let gone = try swiftcap(["models", "path", "acme/private-blip"], offline: true)
        XCTAssertNotEqual(gone.status, 0)
        XCTAssertTrue(gone.stderr.contains("models--acme--private-blip/refs/main"), gone.stderr)
        let bad = try swiftcap(["models", "pull", "blip"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("ORG/NAME"), bad.stderr)
    }

    func testCaptionModelOneCommandThenOffline() throws {
        let first = try swiftcap(["caption", "--model", "Salesforce/blip-image-captioning-base", "--max-tokens", "5", photo.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.hasPrefix(photo.path + "\ta picture of "), first.stdout)
        XCTAssertTrue(first.stderr.contains("known blip repository"), first.stderr)
        let snap = try HubCache(root: cacheDir).cachedSnapshot(RepoID(parsing: "Salesforce/blip-image-captioning-base"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: snap.appendingPathComponent("expected.json").path), "only the files BLIP needs")

        hub.stop()
        let offline = try swiftcap(["caption", "--model", "Salesforce/blip-image-captioning-base", "--max-tokens", "5", photo.path], offline: true)
        XCTAssertEqual(offline.status, 0, offline.stderr)
        XCTAssertEqual(offline.stdout, first.stdout)
        let missing = try swiftcap(["caption", "--model", "Salesforce/blip-image-captioning-large", photo.path], offline: true)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("HF_HUB_OFFLINE=1") && missing.stderr.contains("models--Salesforce--blip-image-captioning-large/refs/main"), missing.stderr)
    }

    func testCaptionModelRefusesWhatItCannotRun() throws {
        let r = try swiftcap(["caption", "--model", "acme/bert", photo.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("BertModel") && r.stderr.contains("model_type bert"), r.stderr)
        let nf = try swiftcap(["caption", "--model", "acme/nothing", photo.path])
        XCTAssertEqual(nf.status, 1)
        XCTAssertTrue(nf.stderr.contains("not found"), nf.stderr)
    }

    /// `swiftcap models pull` killed (SIGKILL) in the middle of a file: the bytes so far stay in
    /// `blobs/<sha256>.incomplete`, nothing has the final name, and the next pull resumes with Range and verifies.
    func testPullKilledMidFileResumes() throws {
        let sha = SHA256.hex(try Data(contentsOf: blipFixture.appendingPathComponent("model.safetensors")))
        try hub.inject([["match": "^/_lfs/", "method": "GET", "stall_after": 60_000, "stall_seconds": 30, "times": 1]])
        let p = Process()
        p.executableURL = try binary()
        p.arguments = ["models", "pull", "Salesforce/blip-image-captioning-base"]
        var env = ProcessInfo.processInfo.environment
        env["HF_HUB_CACHE"] = cacheDir.path
        env["HF_ENDPOINT"] = hub.endpoint.absoluteString
        env["HF_TOKEN"] = ""
        env["HF_HOME"] = work.path
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let blobs = cacheDir.appendingPathComponent("models--Salesforce--blip-image-captioning-base/blobs")
        let part = blobs.appendingPathComponent(sha + ".incomplete")
        let deadline = Date().addingTimeInterval(20)
        func partSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: part.path))?[.size] as? NSNumber)?.intValue ?? 0 }
        while partSize() < 60_000, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(partSize(), 60_000)
        XCTAssertFalse(FileManager.default.fileExists(atPath: blobs.appendingPathComponent(sha).path), "no blob under its final name")

        let again = try swiftcap(["models", "pull", "Salesforce/blip-image-captioning-base"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: part.path))
        XCTAssertEqual(try SHA256.hex(fileAt: blobs.appendingPathComponent(sha)), sha)
        let ranges = try hub.log().filter { $0.method == "GET" && $0.path.hasPrefix("/_lfs/") }.map(\.range)
        XCTAssertEqual(ranges, [nil, "bytes=60000-"])
    }

    /// `swiftcap eval --model ORG/NAME --images DIR`: the hub model captions the folder, the captions are scored;
    /// then the same offline from the cache (same captions, no request).
    func testEvalModelCaptionsFolderThenOffline() throws {
        let images = work.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: photo, to: images.appendingPathComponent("one.jpg"))
        let refs = work.appendingPathComponent("refs.json")
        try Data(#"{"one.jpg": ["a picture of a dog", "a dog on the grass"]}"#.utf8).write(to: refs)
        func eval(_ out: String, offline: Bool) throws -> (ProcessResult, [String: Any]) {
            let outDir = work.appendingPathComponent(out)
            let r = try swiftcap(["eval", "--references", refs.path, "--images", images.path, "--model", "Salesforce/blip-image-captioning-base",
                                  "--max-tokens", "5", "--no-meteor", "--no-report", "--json", "--out", outDir.path], offline: offline)
            let data = (try? Data(contentsOf: outDir.appendingPathComponent("results.json"))) ?? Data()
            return (r, ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:])
        }
        let (first, results) = try eval("out1", offline: false)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("known blip repository"), first.stderr)
        XCTAssertTrue(first.stdout.contains("CIDEr"), first.stdout)
        let caption = try XCTUnwrap(captionOf("one.jpg", in: results), "\(results)")
        XCTAssertTrue(caption.hasPrefix("a picture of "), caption)
        // The same caption as `caption --model` gives for the photo.
        let single = try swiftcap(["caption", "--model", "Salesforce/blip-image-captioning-base", "--max-tokens", "5", photo.path], offline: true)
        XCTAssertEqual(single.stdout, photo.path + "\t" + caption + "\n")

        hub.stop()
        let (offline, again) = try eval("out2", offline: true)
        XCTAssertEqual(offline.status, 0, offline.stderr)
        XCTAssertEqual(captionOf("one.jpg", in: again), caption)

        let bad = try swiftcap(["eval", "--references", refs.path, "--captions", refs.path, "--model", "Salesforce/blip-image-captioning-base"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--images"), bad.stderr)
        let both = try swiftcap(["eval", "--references", refs.path, "--captions", refs.path, "--images", images.path,
                                 "--model", "Salesforce/blip-image-captioning-base"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("nothing to caption"), both.stderr)
    }

    /// results.json's per-image rows -> the caption of `name`.
    func captionOf(_ name: String, in results: [String: Any]) -> String? {
        (results["images"] as? [[String: Any]])?.first { $0["file"] as? String == name }?["caption"] as? String
    }

    /// `swiftcap bench model --model ORG/NAME --image PHOTO` times the real files from the cache.
    func testBenchModelTimesRealFilesFromCache() throws {
        let r = try swiftcap(["bench", "model", "--model", "Salesforce/blip-image-captioning-base", "--image", photo.path,
                              "--runs", "1", "--tokens", "3", "--beams", "1", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("arch: blip") && r.stdout.contains("models--Salesforce--blip-image-captioning-base/snapshots/"), r.stdout)
        XCTAssertTrue(r.stdout.contains("load (ms)") && r.stdout.contains("\"a picture of "), r.stdout)
        let noImage = try swiftcap(["bench", "model", "--model", "Salesforce/blip-image-captioning-base"])
        XCTAssertNotEqual(noImage.status, 0)
        XCTAssertTrue(noImage.stderr.contains("--image"), noImage.stderr)
    }

    /// `caption --arch clipcap --gpt-heads N`: ClipCap's .pt carries no config, so the head count can be given;
    /// the flag reaches the model (5 does not divide the fixture's width 32 and is refused, 4 is accepted and the
    /// run goes on to look for CLIP).
    func testCaptionClipCapGPTHeadsFlag() throws {
        let dir = work.appendingPathComponent("clipcap")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: repoRoot.appendingPathComponent("fixtures/captioners/clipcap-mlp/model.pt"),
                                         to: dir.appendingPathComponent("model.pt"))
        let five = try swiftcap(["caption", "--arch", "clipcap", "--weights", dir.path, "--gpt-heads", "5", photo.path])
        XCTAssertNotEqual(five.status, 0)
        XCTAssertTrue(five.stderr.contains("not divisible by n_head 5"), five.stderr)
        let four = try swiftcap(["caption", "--arch", "clipcap", "--weights", dir.path, "--gpt-heads", "4", photo.path])
        XCTAssertNotEqual(four.status, 0)
        XCTAssertTrue(four.stderr.contains("CLIP ViT-B/32 weights") && !four.stderr.contains("n_head"), four.stderr)
        let zero = try swiftcap(["caption", "--arch", "clipcap", "--weights", dir.path, "--gpt-heads", "0", photo.path])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.stderr.contains("--gpt-heads must be at least 1"), zero.stderr)
    }

    /// `caption --strict`: the tiny BLIP loads every tensor it holds and passes; the same checkpoint with one
    /// extra learned tensor (written here into the safetensors file) is refused, naming the tensor.
    func testCaptionStrictRefusesUnloadedTensors() throws {
        let ok = try swiftcap(["caption", "--arch", "blip", "--weights", blipFixture.path, "--strict", "--max-tokens", "3", photo.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.hasPrefix(photo.path + "\ta picture of "), ok.stdout)

        let dir = work.appendingPathComponent("blip-extra")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: blipFixture.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        // safetensors: u64 header length, JSON header, data. Add a 1-element F32 tensor after the data.
        let bytes = try Data(contentsOf: blipFixture.appendingPathComponent("model.safetensors"))
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n))) as? [String: Any])
        let data = bytes.subdata(in: (8 + n)..<bytes.count)
        header["text_decoder.extra_head.weight"] = ["dtype": "F32", "shape": [1], "data_offsets": [data.count, data.count + 4]]
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data((0..<8).map { UInt8((json.count >> (8 * $0)) & 0xff) })
        out.append(json); out.append(data); out.append(Data(repeating: 0, count: 4))
        try out.write(to: dir.appendingPathComponent("model.safetensors"))

        let lax = try swiftcap(["caption", "--arch", "blip", "--weights", dir.path, "--max-tokens", "3", photo.path])
        XCTAssertEqual(lax.status, 0, lax.stderr)
        let strict = try swiftcap(["caption", "--arch", "blip", "--weights", dir.path, "--strict", "--max-tokens", "3", photo.path])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertTrue(strict.stderr.contains("--strict: 1 tensor(s)") && strict.stderr.contains("text_decoder.extra_head.weight"), strict.stderr)
    }
}
