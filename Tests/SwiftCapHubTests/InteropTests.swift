import Foundation
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

/// The cache is shared with Python's huggingface_hub (the version scripts/python-deps.sh pins), both ways,
/// with both clients talking to the same fake hub.
final class InteropTests: XCTestCase {
    var hub: FakeHub!
    var cacheDir: URL!
    let blip = try! RepoID(parsing: "Salesforce/blip-image-captioning-base")

    override func setUpWithError() throws {
        let probe = try runProcess(testPython(), ["-c", "import huggingface_hub; print(huggingface_hub.__version__)"])
        try requireInput(probe.status == 0, "huggingface_hub in \(testPython().path) (run scripts/python-deps.sh)")
        hub = try FakeHub(repos: [blip.id: blipFixture])
        cacheDir = try temporaryCache()
    }

    override func tearDown() {
        hub?.stop()
        if let cacheDir { try? FileManager.default.removeItem(at: cacheDir) }
    }

    func python(_ code: String, offline: Bool = false) throws -> String {
        var env = ["HF_HUB_CACHE": cacheDir.path, "HF_ENDPOINT": hub.endpoint.absoluteString,
                   "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_TOKEN": ""]
        if offline { env["HF_HUB_OFFLINE"] = "1" }
        let r = try runProcess(testPython(), ["-c", code], env: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testPythonDownloadsSwiftCapFindsOffline() throws {
        let path = try python("""
        from huggingface_hub import snapshot_download
        print(snapshot_download('\(blip.id)', endpoint='\(hub.endpoint.absoluteString)'))
        """)
        let requestsBefore = try hub.log().count
        let env = HubEnvironment(cacheDirectory: cacheDir, endpoint: URL(string: "http://127.0.0.1:9")!, offline: true)
        let snap = try HubCache(root: env.cacheDirectory).cachedSnapshot(blip, requiredFiles: ["config.json", "model.safetensors", "vocab.txt"])
        XCTAssertEqual(snap.resolvingSymlinksInPath().path, URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
        XCTAssertEqual(try Data(contentsOf: snap.appendingPathComponent("model.safetensors")),
                       try Data(contentsOf: blipFixture.appendingPathComponent("model.safetensors")))
        XCTAssertEqual(try hub.log().count, requestsBefore, "SwiftCap made no request")
        // SwiftCap's own listing sees the Python download, and a pull reuses every blob.
        XCTAssertEqual(HubCache(root: cacheDir).list().first?.revisions.first?.files.count, 5)
        let c = HubClient(environment: HubEnvironment(cacheDirectory: cacheDir, endpoint: hub.endpoint))
        let r = try c.pull(blip)
        XCTAssertEqual(r.downloadedBytes, 0)
        XCTAssertEqual(r.reusedFiles, 5)
    }

    func testSwiftCapDownloadsPythonFindsOffline() throws {
        let c = HubClient(environment: HubEnvironment(cacheDirectory: cacheDir, endpoint: hub.endpoint))
        let r = try c.pull(blip)
        hub.stop()
        let out = try python("""
        from huggingface_hub import snapshot_download, hf_hub_download, scan_cache_dir
        print(snapshot_download('\(blip.id)', local_files_only=True))
        print(hf_hub_download('\(blip.id)', 'model.safetensors', local_files_only=True))
        info = scan_cache_dir()
        repo = next(iter(info.repos))
        rev = next(iter(repo.revisions))
        print(repo.repo_id, rev.commit_hash, len(rev.files), sorted(rev.refs), repo.size_on_disk, len(info.warnings))
        """, offline: true)
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, out)
        XCTAssertEqual(lines[0], r.snapshot.path)
        XCTAssertEqual(lines[1], r.snapshot.appendingPathComponent("model.safetensors").path)
        let total = r.files.reduce(0) { $0 + $1.size }
        XCTAssertEqual(lines[2], "\(blip.id) \(r.commit) 5 ['main'] \(total) 0")
    }
}
