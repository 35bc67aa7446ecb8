import Foundation
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

/// SwiftCapHub against scripts/fake_hub.py on 127.0.0.1 serving the BLIP tiny fixture as
/// Salesforce/blip-image-captioning-base (and a private copy as acme/private-blip).
final class HubClientTests: XCTestCase {
    var hub: FakeHub!
    var cacheDir: URL!
    let blip = try! RepoID(parsing: "Salesforce/blip-image-captioning-base")
    let privateRepo = try! RepoID(parsing: "acme/private-blip")

    override func setUpWithError() throws {
        hub = try FakeHub(repos: [blip.id: blipFixture, privateRepo.id: blipFixture], privateRepos: [privateRepo.id])
        cacheDir = try temporaryCache()
    }

    override func tearDown() {
        hub?.stop()
        if let cacheDir { try? FileManager.default.removeItem(at: cacheDir) }
    }

    func client(token: String? = nil, offline: Bool = false, retries: Int = 0) -> HubClient {
        let c = HubClient(environment: HubEnvironment(cacheDirectory: cacheDir, endpoint: hub.endpoint, offline: offline, token: token))
        c.maxRetries = retries
        c.retryDelay = 0.05
        return c
    }

    var modelBytes: Data { try! Data(contentsOf: blipFixture.appendingPathComponent("model.safetensors")) }
    var modelSHA: String { SHA256.hex(modelBytes) }

    /// Nothing under a final name but whole, verified files; no `.incomplete` left unless asked.
    func blobNames() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: HubCache(root: cacheDir).blobsFolder(blip).path))?.sorted() ?? []
    }

    func testPullLaysOutTheHubCacheThenWorksOffline() throws {
        let result = try client().pull(blip)
        XCTAssertEqual(Set(result.files.map(\.path)), ["config.json", "expected.json", "generation_config.json", "model.safetensors", "vocab.txt"])
        XCTAssertTrue(RepoID.isCommitHash(result.commit))
        let repoFolder = cacheDir.appendingPathComponent("models--Salesforce--blip-image-captioning-base")
        XCTAssertEqual(try String(contentsOf: repoFolder.appendingPathComponent("refs/main"), encoding: .utf8), result.commit)
        XCTAssertEqual(result.snapshot.path, repoFolder.appendingPathComponent("snapshots/\(result.commit)").path)
        // LFS file: blob named by its sha256, relative symlink.
        let link = result.snapshot.appendingPathComponent("model.safetensors")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link.path), "../../blobs/\(modelSHA)")
        XCTAssertEqual(try Data(contentsOf: link), modelBytes)
        // Small file: blob named by its git blob id.
        let vocab = try Data(contentsOf: blipFixture.appendingPathComponent("vocab.txt"))
        let dest = try FileManager.default.destinationOfSymbolicLink(atPath: result.snapshot.appendingPathComponent("vocab.txt").path)
        XCTAssertTrue(dest.hasPrefix("../../blobs/") && dest.count == "../../blobs/".count + 40, dest)
        XCTAssertEqual(try Data(contentsOf: result.snapshot.appendingPathComponent("vocab.txt")), vocab)
        XCTAssertFalse(blobNames().contains { $0.hasSuffix(".incomplete") })
        XCTAssertEqual(result.downloadedBytes, Int64(result.files.reduce(0) { $0 + $1.size }))

        // Offline: found from the cache with no request at all.
        let before = try hub.log().count
        let offline = client(offline: true)
        XCTAssertEqual(try offline.cache.cachedSnapshot(blip, requiredFiles: ["config.json", "model.safetensors"]).path, result.snapshot.path)
        XCTAssertThrowsError(try offline.pull(blip)) { e in
            guard case HubError.offlineMissing = e else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("HF_HUB_OFFLINE=1"), "\(e)")
        }
        XCTAssertThrowsError(try offline.cache.cachedSnapshot(blip, requiredFiles: ["tokenizer.json"])) { e in
            XCTAssertTrue("\(e)".contains("tokenizer.json"), "\(e)")
        }
        XCTAssertEqual(try hub.log().count, before + 0, "offline use made a request")

        // A second pull fetches nothing (blobs verified in place).
        let again = try client().pull(blip)
        XCTAssertEqual(again.downloadedBytes, 0)
        XCTAssertEqual(again.reusedFiles, 5)
    }

    func testOfflineWithoutCacheNamesWhatIsMissing() throws {
        let offline = client(offline: true)
        XCTAssertThrowsError(try offline.cache.cachedSnapshot(blip)) { e in
            guard case let HubError.offlineMissing(repo, revision, missing) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(repo, blip.id)
            XCTAssertEqual(revision, "main")
            XCTAssertTrue(missing.contains("models--Salesforce--blip-image-captioning-base/refs/main"), missing)
        }
        XCTAssertThrowsError(try offline.resolveCommit(blip)) { e in guard case HubError.offlineMissing = e else { return XCTFail("\(e)") } }
        XCTAssertEqual(try hub.log().count, 0, "offline mode made a request")
    }

    func testDroppedConnectionLeavesIncompleteThenResumesWithRange() throws {
        try hub.inject([["match": "^/_lfs/", "method": "GET", "drop_after": 100_000, "times": 1]])
        XCTAssertThrowsError(try client().pull(blip, include: ["*.safetensors"])) { e in
            guard case let HubError.connection(_, received, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(received, 100_000)
        }
        XCTAssertEqual(blobNames(), [modelSHA + ".incomplete"], "only the partial file, under its .incomplete name")
        let part = HubCache(root: cacheDir).incompleteBlob(blip, etag: modelSHA)
        XCTAssertEqual(try Data(contentsOf: part).count, 100_000)
        XCTAssertNil(try? HubCache(root: cacheDir).cachedSnapshot(blip, requiredFiles: ["model.safetensors"]))

        let result = try client().pull(blip, include: ["*.safetensors"])
        XCTAssertEqual(result.downloadedBytes, Int64(modelBytes.count - 100_000), "only the rest was fetched")
        XCTAssertEqual(try Data(contentsOf: result.snapshot.appendingPathComponent("model.safetensors")), modelBytes)
        XCTAssertEqual(blobNames(), [modelSHA])
        let gets = try hub.log().filter { $0.method == "GET" && $0.path.hasPrefix("/_lfs/") }
        XCTAssertEqual(gets.map(\.range), [nil, "bytes=100000-"])
    }

    func testRetryResumesWithinOnePull() throws {
        try hub.inject([["match": "^/_lfs/", "method": "GET", "drop_after": 50_000, "times": 2]])
        let result = try client(retries: 3).pull(blip)
        XCTAssertEqual(try Data(contentsOf: result.snapshot.appendingPathComponent("model.safetensors")), modelBytes)
        let ranges = try hub.log().filter { $0.method == "GET" && $0.path.hasPrefix("/_lfs/") }.map(\.range)
        XCTAssertEqual(ranges, [nil, "bytes=50000-", "bytes=100000-"])
    }

    func testCorruptedCachedBlobIsDetectedAndFetchedAgain() throws {
        let first = try client().pull(blip)
        let blob = HubCache(root: cacheDir).blob(blip, etag: modelSHA)
        var bad = modelBytes
        bad[1000] ^= 0x55
        try bad.write(to: blob)
        let second = try client().pull(blip)
        XCTAssertEqual(second.repairedFiles, ["model.safetensors"])
        XCTAssertEqual(second.downloadedBytes, Int64(modelBytes.count))
        XCTAssertEqual(try Data(contentsOf: first.snapshot.appendingPathComponent("model.safetensors")), modelBytes)
    }

    func testCorruptedSmallFileIsCheckedByGitBlobID() throws {
        let r = try client().pull(blip, include: ["vocab.txt"])
        let link = r.snapshot.appendingPathComponent("vocab.txt")
        let blob = link.resolvingSymlinksInPath()
        var bytes = try Data(contentsOf: blob)
        let good = bytes
        bytes[0] = bytes[0] == 0x41 ? 0x42 : 0x41
        try bytes.write(to: blob)
        let again = try client().pull(blip, include: ["vocab.txt"])
        XCTAssertEqual(again.repairedFiles, ["vocab.txt"])
        XCTAssertEqual(try Data(contentsOf: link), good)
    }

    /// huggingface_hub's lock on a blob (flock on .locks/models--ORG--NAME/<etag>.lock) makes SwiftCap wait.
    func testWaitsForPythonsBlobLock() throws {
        let lock = HubCache(root: cacheDir).lockFile(blip, etag: modelSHA)
        try FileManager.default.createDirectory(at: lock.deletingLastPathComponent(), withIntermediateDirectories: true)
        let holder = Process()
        holder.executableURL = testPython()
        holder.arguments = ["-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.5)", lock.path]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer { holder.waitUntilExit() }
        XCTAssertTrue(String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).hasPrefix("held"))
        let start = Date()
        let r = try client().pull(blip, include: ["model.safetensors"])
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 1.0, "did not wait for the lock")
        XCTAssertEqual(try Data(contentsOf: r.snapshot.appendingPathComponent("model.safetensors")), modelBytes)
    }

    func testCorruptDownloadIsRejectedAndNothingKept() throws {
        try hub.inject([["match": "^/_lfs/", "method": "GET", "corrupt": true, "times": 2]])
        XCTAssertThrowsError(try client().pull(blip, include: ["model.safetensors"])) { e in
            guard case let HubError.checksumMismatch(file, expected, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(file, "\(blip.id)/model.safetensors")
            XCTAssertTrue(expected.contains(modelSHA))
        }
        XCTAssertEqual(blobNames(), [], "neither a bad blob nor a partial file is left")
        // One corrupt answer only: the second whole download succeeds within the same pull.
        try hub.inject([["match": "^/_lfs/", "method": "GET", "corrupt": true, "times": 1]])
        let r = try client().pull(blip, include: ["model.safetensors"])
        XCTAssertEqual(try Data(contentsOf: r.snapshot.appendingPathComponent("model.safetensors")), modelBytes)
    }

    func testPrivateRepoNeedsTokenWhichGoesOnlyToTheEndpoint() throws {
        XCTAssertThrowsError(try client().pull(privateRepo)) { e in
            XCTAssertEqual(e as? HubError, .unauthorized(repo: privateRepo.id, status: 401, tokenSent: false))
            XCTAssertTrue("\(e)".contains("HF_TOKEN"), "\(e)")
        }
        XCTAssertThrowsError(try client(token: "hf_wrong").pull(privateRepo)) { e in
            XCTAssertEqual(e as? HubError, .unauthorized(repo: privateRepo.id, status: 401, tokenSent: true))
            XCTAssertFalse("\(e)".contains("hf_wrong"))
        }
        try hub.reset()
        let logLines = LockedLines()
        let c = client(token: FakeHub.token)
        c.log = { logLines.append($0) }
        let r = try c.pull(privateRepo)
        XCTAssertEqual(r.files.count, 5)
        let log = try hub.log()
        XCTAssertTrue(log.filter { !$0.path.hasPrefix("/_lfs/") }.allSatisfy(\.auth), "every hub request carries the token")
        let lfs = log.filter { $0.path.hasPrefix("/_lfs/") }
        XCTAssertFalse(lfs.isEmpty)
        XCTAssertTrue(lfs.allSatisfy { !$0.auth && $0.host.hasPrefix("localhost") }, "no token to the other host the LFS redirect names")
        XCTAssertFalse(logLines.lines.joined().contains(FakeHub.token))
    }

    func testNotFoundRepoRevisionAndFile() throws {
        let missing = try RepoID(parsing: "nobody/nothing")
        XCTAssertThrowsError(try client().pull(missing)) { e in
            XCTAssertEqual(e as? HubError, .repoNotFound(repo: "nobody/nothing", revision: "main"))
            XCTAssertTrue("\(e)".contains("404"))
        }
        XCTAssertThrowsError(try client().pull(RepoID(parsing: blip.id + "@no-such-branch"))) { e in
            XCTAssertEqual(e as? HubError, .repoNotFound(repo: blip.id, revision: "no-such-branch"))
        }
        XCTAssertThrowsError(try client().fileMetadata(blip, revision: "main", file: "tokenizer.json")) { e in
            XCTAssertEqual(e as? HubError, .fileNotFound(repo: blip.id, revision: "main", file: "tokenizer.json"))
        }
        XCTAssertThrowsError(try client().pull(blip, include: ["*.gguf"])) { e in
            guard case HubError.noFilesMatched = e else { return XCTFail("\(e)") }
            XCTAssertTrue("\(e)".contains("model.safetensors"), "lists what there is: \(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: cacheDir.appendingPathComponent("models--nobody--nothing").path))
    }

    /// A hostile or broken server cannot make SwiftCap write outside blobs/ through the ETag.
    func testETagThatIsNotABlobNameIsRefused() throws {
        try hub.inject([["match": "/resolve/", "method": "HEAD", "status": 200, "headers": ["ETag": "\"../../../evil\"", "X-Repo-Commit": String(repeating: "a", count: 40)], "times": 1]])
        XCTAssertThrowsError(try client().fileMetadata(blip, revision: "main", file: "config.json")) { e in
            guard case let HubError.protocolError(_, what) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(what.contains("not a plain blob name"), what)
        }
    }

    func testRateLimitReportsRetryAfterOrWaitsIt() throws {
        try hub.inject([["match": "/revision/", "status": 429, "headers": ["Retry-After": "120"], "times": 1]])
        let c = client(retries: 3)
        c.maxRetryAfter = 5
        XCTAssertThrowsError(try c.pull(blip)) { e in
            guard case let HubError.rateLimited(_, after) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(after, 120)
            XCTAssertTrue("\(e)".contains("retry after 120 s"), "\(e)")
        }
        try hub.inject([["match": "/resolve/", "status": 429, "headers": ["Retry-After": "1"], "times": 1]])
        let start = Date()
        let r = try c.pull(blip, include: ["config.json"])
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.9, "waited Retry-After")
        XCTAssertEqual(r.files.map(\.path), ["config.json"])
    }

    func testServerErrorAfterRetries() throws {
        try hub.inject([["match": "/tree/", "status": 500, "times": 10]])
        XCTAssertThrowsError(try client(retries: 2).pull(blip)) { e in
            guard case let HubError.http(status, url) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(status, 500)
            XCTAssertTrue(url.contains("/api/models/\(blip.id)/tree/"), url)
        }
        XCTAssertEqual(try hub.log().filter { $0.path.contains("/tree/") }.count, 3, "one try and two retries")
        XCTAssertEqual(blobNames(), [])
    }

    func testConnectionRefused() throws {
        hub.stop()
        XCTAssertThrowsError(try client().pull(blip)) { e in
            guard case HubError.connection = e else { return XCTFail("\(e)") }
        }
    }

    func testPagedTreeListing() throws {
        try hub.inject([], pageSize: 2)
        let c = client()
        let files = try c.listFiles(blip, commit: c.resolveCommit(blip))
        XCTAssertEqual(files.count, 5)
        XCTAssertEqual(files.first { $0.path == "model.safetensors" }?.lfsSHA256, modelSHA)
        XCTAssertEqual(try hub.log().filter { $0.path.contains("/tree/") }.count, 3)
    }

    func testListAndRemove() throws {
        let r = try client().pull(blip)
        let cache = HubCache(root: cacheDir)
        let repos = cache.list()
        XCTAssertEqual(repos.map(\.id), [blip.id])
        XCTAssertEqual(repos[0].revisions.map(\.commit), [r.commit])
        XCTAssertEqual(repos[0].revisions[0].refs, ["main"])
        XCTAssertEqual(repos[0].revisions[0].files.count, 5)
        XCTAssertEqual(repos[0].size, Int64(r.files.reduce(0) { $0 + $1.size }))
        XCTAssertTrue(try cache.remove(blip))
        XCTAssertEqual(cache.list().count, 0)
        XCTAssertFalse(try cache.remove(blip))
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ s: String) { lock.lock(); storage.append(s); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return storage }
}
