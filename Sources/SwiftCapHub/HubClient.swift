import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file of a repository as the hub lists it (`/api/models/{repo}/tree/{commit}`).
public struct RemoteFile: Sendable, Equatable {
    public let path: String
    public let size: Int64
    /// Git blob id (the ETag of a small file).
    public let blobID: String
    /// sha256 of an LFS file (its ETag), nil for files stored in git.
    public let lfsSHA256: String?
}

/// Byte counts while pulling; handed to `HubClient.progress` from the download threads (at most every 100 ms
/// per file, and once when each file ends).
public struct PullProgress: Sendable {
    public var totalBytes: Int64
    public var doneBytes: Int64
    public var filesDone: Int
    public var filesTotal: Int
    /// Bytes fetched over the network in this pull (resumed and cached bytes excluded): the speed's numerator.
    public var transferredBytes: Int64
    public var elapsed: TimeInterval

    public init(totalBytes: Int64, doneBytes: Int64, filesDone: Int, filesTotal: Int, transferredBytes: Int64, elapsed: TimeInterval) {
        self.totalBytes = totalBytes
        self.doneBytes = doneBytes
        self.filesDone = filesDone
        self.filesTotal = filesTotal
        self.transferredBytes = transferredBytes
        self.elapsed = elapsed
    }
}

public struct PullResult: Sendable {
    public let repo: RepoID
    public let commit: String
    public let snapshot: URL
    public let files: [RemoteFile]
    /// Bytes fetched over the network.
    public let downloadedBytes: Int64
    /// Files whose blob was already in the cache (verified) and not fetched again.
    public let reusedFiles: Int
    /// Cached blobs that failed verification and were fetched again.
    public let repairedFiles: [String]
    /// Seconds the pull took.
    public let elapsed: TimeInterval
}

/// Talks to a Hugging Face-style hub (`HubEnvironment.endpoint`) through URLSession and fills the shared cache.
public final class HubClient: @unchecked Sendable {
    public let environment: HubEnvironment
    public var cache: HubCache { HubCache(root: environment.cacheDirectory) }
    /// Retries of one request after a dropped connection, a 5xx or a 429 (downloads resume with Range).
    public var maxRetries = 3
    /// Longest `Retry-After` (seconds) waited for before a 429 is reported instead.
    public var maxRetryAfter: Double = 60
    /// First back-off after a failure (doubles each retry).
    public var retryDelay: Double = 1
    /// Files downloaded at once.
    public var parallelFiles = 4
    /// Re-hash cached LFS blobs during `pull` (a corrupted blob is deleted and fetched again).
    public var verifyCachedBlobs = true
    public var timeout: TimeInterval = 60
    public var progress: (@Sendable (PullProgress) -> Void)?
    /// One line per notable event (a repaired blob, a retry); never contains the token.
    public var log: (@Sendable (String) -> Void)?

    public init(environment: HubEnvironment = .fromEnvironment()) { self.environment = environment }

    // MARK: requests

    private func sameOrigin(_ url: URL) -> Bool {
        let e = environment.endpoint
        func port(_ u: URL) -> Int? { u.port ?? (u.scheme == "https" ? 443 : u.scheme == "http" ? 80 : nil) }
        return url.scheme?.lowercased() == e.scheme?.lowercased() && url.host?.lowercased() == e.host?.lowercased() && port(url) == port(e)
    }

    private func request(_ url: URL, method: String, extra: [String: String] = [:]) -> (URLRequest, tokenSent: Bool) {
        var r = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        r.httpMethod = method
        r.setValue("swiftcap-hub/1; \(SwiftCapHubInfo.userAgent)", forHTTPHeaderField: "User-Agent")
        for (k, v) in extra { r.setValue(v, forHTTPHeaderField: k) }
        var sent = false
        if let token = environment.token, sameOrigin(url) {
            r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            sent = true
        }
        return (r, sent)
    }

    private func checkNetwork(_ repo: RepoID) throws {
        if environment.offline {
            throw HubError.offlineMissing(repo: repo.id, revision: repo.revision,
                                          missing: "a network call was needed (HF_HUB_OFFLINE=1); download it first with `swiftcap models pull \(repo)`")
        }
    }

    /// Shown in errors: the URL without query (signed CDN URLs carry credentials in their query).
    private func display(_ url: URL) -> String {
        var c = URLComponents(url: url, resolvingAgainstBaseURL: false)
        c?.query = nil
        c?.user = nil
        c?.password = nil
        return c?.string ?? url.path
    }

    /// Maps a non-2xx status to a typed error.
    private func statusError(_ r: HTTPResponse, repo: RepoID, file: String?, tokenSent: Bool) -> HubError {
        let code = r.header("X-Error-Code")
        switch r.status {
        case 401, 403:
            if r.status == 401, code == "RepoNotFound", !tokenSent { return .unauthorized(repo: repo.id, status: 401, tokenSent: false) }
            return .unauthorized(repo: repo.id, status: r.status, tokenSent: tokenSent)
        case 404:
            if let file, code != "RepoNotFound", code != "RevisionNotFound" {
                return .fileNotFound(repo: repo.id, revision: repo.revision, file: file)
            }
            return .repoNotFound(repo: repo.id, revision: repo.revision)
        case 429:
            return .rateLimited(url: display(r.url), retryAfter: r.header("Retry-After").flatMap(Double.init))
        default:
            return .http(status: r.status, url: display(r.url))
        }
    }

    /// One request with retries for 429 (honouring Retry-After), 5xx and connection failures. `sink` gets
    /// 2xx bodies; `onRetry` runs before a retry (a download adds its Range there).
    private func send(_ makeRequest: () -> (URLRequest, tokenSent: Bool), repo: RepoID, file: String?,
                      sink: ((Int, Data) throws -> Void)? = nil, allowRedirect: Bool = false,
                      onRetry: (() throws -> Void)? = nil) throws -> HTTPResponse {
        var attempt = 0
        while true {
            let (req, tokenSent) = makeRequest()
            var failure: HubError
            var wait = retryDelay * pow(2, Double(attempt))
            do {
                let r = try HTTP.exchange(req, sink: sink)
                if (200..<300).contains(r.status) || (allowRedirect && r.isRedirect) { return r }
                failure = statusError(r, repo: repo, file: file, tokenSent: tokenSent)
                switch failure {
                case let .rateLimited(_, after):
                    if let after { wait = after }
                    if wait > maxRetryAfter { throw failure }
                case .http(let status, _) where status >= 500: break
                default: throw failure
                }
            } catch let t as TransportFailure {
                failure = .connection(url: display(t.url), received: t.streamed, reason: t.reason)
            }
            guard attempt < maxRetries else { throw failure }
            attempt += 1
            log?("retry \(attempt)/\(maxRetries) in \(String(format: "%.1f", wait)) s: \(failure)")
            Thread.sleep(forTimeInterval: wait)
            try onRetry?()
        }
    }

    private func json(_ url: URL, repo: RepoID) throws -> (Any, HTTPResponse) {
        let r = try send({ request(url, method: "GET", extra: ["Accept": "application/json"]) }, repo: repo, file: nil)
        guard let obj = try? JSONSerialization.jsonObject(with: r.body) else {
            throw HubError.protocolError(url: display(url), "body is not JSON")
        }
        return (obj, r)
    }

    private func apiURL(_ repo: RepoID, _ tail: String, revision: String) -> URL {
        let rev = revision.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? revision
        return URL(string: environment.endpoint.absoluteString + "/api/models/\(repo.id)/\(tail)/\(rev)")!
    }

    // MARK: metadata

    /// The commit a revision points at now (`GET /api/models/{repo}/revision/{rev}`, field `sha`).
    public func resolveCommit(_ repo: RepoID) throws -> String {
        try checkNetwork(repo)
        let url = apiURL(repo, "revision", revision: repo.revision)
        let (obj, _) = try json(url, repo: repo)
        guard let sha = (obj as? [String: Any])?["sha"] as? String, RepoID.isCommitHash(sha) else {
            throw HubError.protocolError(url: display(url), "no commit hash in field 'sha'")
        }
        return sha
    }

    /// Every file of the repository at `commit` (`GET /api/models/{repo}/tree/{commit}?recursive=true`,
    /// following `Link: <…>; rel="next"` pages).
    public func listFiles(_ repo: RepoID, commit: String) throws -> [RemoteFile] {
        try checkNetwork(repo)
        var next: URL? = URL(string: apiURL(repo, "tree", revision: commit).absoluteString + "?recursive=true&expand=false")
        var files: [RemoteFile] = []
        while let url = next {
            let (obj, r) = try json(url, repo: repo)
            guard let entries = obj as? [[String: Any]] else { throw HubError.protocolError(url: display(url), "tree listing is not a JSON array") }
            for e in entries where (e["type"] as? String) == "file" {
                guard let path = e["path"] as? String, let size = (e["size"] as? NSNumber)?.int64Value, let oid = e["oid"] as? String else {
                    throw HubError.protocolError(url: display(url), "tree entry without path/size/oid")
                }
                guard !path.hasPrefix("/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                    throw HubError.protocolError(url: display(url), "unsafe file path '\(path)'")
                }
                let lfs = (e["lfs"] as? [String: Any])?["oid"] as? String
                files.append(RemoteFile(path: path, size: size, blobID: oid, lfsSHA256: lfs))
            }
            next = r.header("Link").flatMap(HubClient.nextLink)
        }
        return files
    }

    static func nextLink(_ header: String) -> URL? {
        for part in header.split(separator: ",") where part.contains("rel=\"next\"") {
            if let s = part.firstIndex(of: "<"), let e = part.firstIndex(of: ">"), s < e {
                return URL(string: String(part[part.index(after: s)..<e]))
            }
        }
        return nil
    }

    /// What `HEAD /{repo}/resolve/{commit}/{file}` says: the ETag (sha256 for LFS via `X-Linked-Etag`), the
    /// size, the commit, and where the bytes are (the redirect target for LFS files).
    public struct FileMetadata: Sendable {
        public let etag: String
        public let size: Int64?
        public let commit: String?
        public let location: URL
    }

    public func resolveURL(_ repo: RepoID, revision: String, file: String) -> URL {
        let enc = file.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? String($0) }
        return URL(string: environment.endpoint.absoluteString + "/\(repo.id)/resolve/\(revision)/" + enc.joined(separator: "/"))!
    }

    public func fileMetadata(_ repo: RepoID, revision: String, file: String) throws -> FileMetadata {
        try checkNetwork(repo)
        var url = resolveURL(repo, revision: revision, file: file)
        for _ in 0..<10 {
            let r = try send({ request(url, method: "HEAD", extra: ["Accept-Encoding": "identity"]) }, repo: repo, file: file, allowRedirect: true)
            if r.isRedirect, let loc = r.header("Location"), let target = URL(string: loc, relativeTo: url)?.absoluteURL {
                // Redirects on the hub itself (renamed repos) are followed; others (LFS storage) are where the bytes are.
                if sameOrigin(target), r.header("X-Linked-Etag") == nil { url = target; continue }
                return try metadata(from: r, location: target)
            }
            return try metadata(from: r, location: url)
        }
        throw HubError.protocolError(url: display(url), "too many redirects")
    }

    private func metadata(from r: HTTPResponse, location: URL) throws -> FileMetadata {
        guard let raw = r.header("X-Linked-Etag") ?? r.header("ETag") else {
            throw HubError.protocolError(url: display(r.url), "no ETag or X-Linked-Etag header")
        }
        let size = (r.header("X-Linked-Size") ?? (r.isRedirect ? nil : r.header("Content-Length"))).flatMap(Int64.init)
        let etag = HubClient.normalizeETag(raw)
        // The ETag names a file in blobs/: only a plain name (hex digests in practice) is accepted.
        guard !etag.isEmpty, etag.count <= 128, !etag.hasPrefix("."),
              etag.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw HubError.protocolError(url: display(r.url), "ETag '\(etag.prefix(80))' is not a plain blob name")
        }
        if let c = r.header("X-Repo-Commit"), !RepoID.isCommitHash(c) {
            throw HubError.protocolError(url: display(r.url), "X-Repo-Commit '\(c.prefix(80))' is not a commit hash")
        }
        return FileMetadata(etag: etag, size: size, commit: r.header("X-Repo-Commit"), location: location)
    }

    /// `W/"abc"` → `abc`, as huggingface_hub stores blob names.
    static func normalizeETag(_ s: String) -> String {
        var t = s.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("W/") { t.removeFirst(2) }
        return t.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    // MARK: pulling

    /// Whether `path` matches any of `patterns` (fnmatch without FNM_PATHNAME, as huggingface_hub's
    /// `allow_patterns`: `*` also crosses '/'; a pattern ending in '/' means everything below it).
    public static func matches(_ path: String, patterns: [String]) -> Bool {
        if patterns.isEmpty { return true }
        return patterns.contains { p in
            let pat = p.hasSuffix("/") ? p + "*" : p
            return fnmatch(pat, path, 0) == 0
        }
    }

    /// Downloads `repo` (the files matching `include`, all when empty) into the cache and returns its snapshot.
    /// Blobs already in the cache are verified, not fetched again; partial downloads resume.
    public func pull(_ repo: RepoID, include: [String] = []) throws -> PullResult {
        try checkNetwork(repo)
        let commit = repo.revisionIsCommit ? repo.revision : try resolveCommit(repo)
        let all = try listFiles(repo, commit: commit)
        let files = all.filter { HubClient.matches($0.path, patterns: include) }
        if files.isEmpty, !include.isEmpty { throw HubError.noFilesMatched(repo: repo.id, patterns: include, available: all.map(\.path)) }
        try cache.createFolder(cache.blobsFolder(repo))

        let state = PullState(total: files.reduce(0) { $0 + $1.size }, files: files.count)
        let work = WorkQueue(count: files.count)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(parallelFiles, files.count)) {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                while let i = work.next() {
                    do { try fetch(repo, commit: commit, file: files[i], state: state) } catch { work.fail(error) }
                }
            }
            t.stackSize = 1 << 20
            t.start()
        }
        group.wait()
        if let firstError = work.firstError { throw firstError }
        try cache.writeRef(repo, revision: repo.revision, commit: commit)
        let snap = cache.snapshotFolder(repo, commit: commit)
        try cache.createFolder(snap)
        return PullResult(repo: repo, commit: commit, snapshot: snap, files: files,
                          downloadedBytes: state.transferred, reusedFiles: state.reused, repairedFiles: state.repaired,
                          elapsed: Date().timeIntervalSince(state.start))
    }

    /// Hands out file indices to the download threads; stops handing out after the first error.
    final class WorkQueue: @unchecked Sendable {
        private let lock = NSLock()
        private var index = 0
        private let count: Int
        private(set) var firstError: Error?
        init(count: Int) { self.count = count }
        func next() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard firstError == nil, index < count else { return nil }
            index += 1
            return index - 1
        }
        func fail(_ e: Error) { lock.lock(); if firstError == nil { firstError = e }; lock.unlock() }
    }

    final class PullState: @unchecked Sendable {
        let lock = NSLock()
        let start = Date()
        let total: Int64
        let filesTotal: Int
        var done: Int64 = 0
        var transferred: Int64 = 0
        var filesDone = 0
        var reused = 0
        var repaired: [String] = []
        init(total: Int64, files: Int) { self.total = total; filesTotal = files }
        func snapshot() -> PullProgress {
            lock.lock(); defer { lock.unlock() }
            return PullProgress(totalBytes: total, doneBytes: done, filesDone: filesDone, filesTotal: filesTotal,
                                transferredBytes: transferred, elapsed: Date().timeIntervalSince(start))
        }
        func add(done d: Int64, transferred t: Int64) { lock.lock(); done += d; transferred += t; lock.unlock() }
    }

    private func fileSize(_ url: URL) -> Int64? {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.int64Value
    }

    /// Verifies a finished blob: size always, sha256 for LFS files. Returns the actual digest/size text on mismatch.
    private func verify(_ url: URL, expectedSize: Int64?, sha256: String?, gitBlobID: String? = nil) throws -> (ok: Bool, expected: String, actual: String) {
        let size = fileSize(url) ?? -1
        if let expectedSize, size != expectedSize { return (false, "\(expectedSize) bytes", "\(size) bytes") }
        if sha256 == nil, let gitBlobID, RepoID.isCommitHash(gitBlobID) {
            let actual: String
            do { actual = try SHA1.gitBlobID(fileAt: url) } catch { throw HubError.io(path: url.path, "cannot read: \(error.localizedDescription)") }
            if actual != gitBlobID.lowercased() { return (false, "git blob \(gitBlobID)", "git blob \(actual)") }
        }
        if let sha256 {
            let actual: String
            do { actual = try SHA256.hex(fileAt: url) } catch { throw HubError.io(path: url.path, "cannot read: \(error.localizedDescription)") }
            if actual != sha256.lowercased() { return (false, "sha256 \(sha256)", "sha256 \(actual)") }
        }
        return (true, "", "")
    }

    private func fetch(_ repo: RepoID, commit: String, file: RemoteFile, state: PullState) throws {
        let meta = try fileMetadata(repo, revision: commit, file: file.path)
        if let c = meta.commit, c != commit {
            throw HubError.protocolError(url: display(resolveURL(repo, revision: commit, file: file.path)), "X-Repo-Commit \(c) is not the requested commit \(commit)")
        }
        // LFS files: the blob name is the sha256 the listing and X-Linked-Etag both give.
        if let lfs = file.lfsSHA256, lfs.lowercased() != meta.etag.lowercased() {
            throw HubError.protocolError(url: display(resolveURL(repo, revision: commit, file: file.path)),
                                         "X-Linked-Etag \(meta.etag) differs from the listing's sha256 \(lfs)")
        }
        let sha = file.lfsSHA256 ?? (meta.etag.count == 64 && meta.etag.allSatisfy(\.isHexDigit) ? meta.etag : nil)
        let expectedSize = meta.size ?? file.size
        let blob = cache.blob(repo, etag: meta.etag)
        let display = "\(repo.id)/\(file.path)"
        // The lock huggingface_hub takes for the same blob (filelock = flock on .locks/models--ORG--NAME/<etag>.lock),
        // so a Python download and a SwiftCap download of one file never write it at the same time.
        let lock = try cache.lockBlob(repo, etag: meta.etag)
        defer { lock.unlock() }

        if FileManager.default.fileExists(atPath: blob.path) {
            let check = try verify(blob, expectedSize: expectedSize, sha256: verifyCachedBlobs ? sha : nil,
                                   gitBlobID: verifyCachedBlobs ? file.blobID : nil)
            if check.ok {
                try cache.linkSnapshotFile(repo, commit: commit, file: file.path, etag: meta.etag)
                state.lock.lock(); state.done += file.size; state.filesDone += 1; state.reused += 1; state.lock.unlock()
                progress?(state.snapshot())
                return
            }
            log?("\(display): cached blob is corrupted (\(check.expected) expected, \(check.actual) found); fetching it again")
            try? FileManager.default.removeItem(at: blob)
            state.lock.lock(); state.repaired.append(file.path); state.lock.unlock()
        }

        let part = cache.incompleteBlob(repo, etag: meta.etag)
        var wholeTries = 0
        while true {
            try download(repo, meta: meta, file: file.path, to: part, expectedSize: expectedSize, state: state)
            let check = try verify(part, expectedSize: expectedSize, sha256: sha, gitBlobID: file.blobID)
            if check.ok { break }
            try? FileManager.default.removeItem(at: part)
            state.add(done: -expectedSize, transferred: 0)
            if wholeTries >= 1 { throw HubError.checksumMismatch(file: display, expected: check.expected, actual: check.actual) }
            wholeTries += 1
            log?("\(display): downloaded bytes fail verification (\(check.expected) expected, \(check.actual) found); downloading again")
        }
        try cache.replace(part, with: blob)
        try cache.linkSnapshotFile(repo, commit: commit, file: file.path, etag: meta.etag)
        state.lock.lock(); state.filesDone += 1; state.lock.unlock()
        progress?(state.snapshot())
    }

    /// GETs `meta.location` into `part`, appending from its current size with `Range: bytes=N-` (a 200 answer
    /// restarts it from zero). Retries resume the same way.
    private func download(_ repo: RepoID, meta: FileMetadata, file: String, to part: URL, expectedSize: Int64, state: PullState) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: part.path) {
            guard fm.createFile(atPath: part.path, contents: nil) else { throw HubError.io(path: part.path, "cannot create") }
        }
        var have = fileSize(part) ?? 0
        if have > expectedSize { try Data().write(to: part); have = 0 }
        state.add(done: have, transferred: 0)
        if have == expectedSize, expectedSize > 0 { return }
        let handle: FileHandle
        do { handle = try FileHandle(forWritingTo: part) } catch { throw HubError.io(path: part.path, "cannot open for writing: \(error.localizedDescription)") }
        defer { try? handle.close() }
        var offset = have
        var fresh = true                       // no byte of the current exchange written yet
        var lastReport = Date.distantPast
        _ = try send({
            fresh = true
            var extra = ["Accept-Encoding": "identity"]
            if offset > 0 { extra["Range"] = "bytes=\(offset)-" }
            return request(meta.location, method: "GET", extra: extra)
        }, repo: repo, file: file, sink: { [self] status, data in
            if fresh, status == 200, offset > 0 {  // the server ignored Range: start over from byte 0
                try handle.truncate(atOffset: 0)
                state.add(done: -offset, transferred: 0)
                offset = 0
            }
            fresh = false
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: data)
            offset += Int64(data.count)
            state.add(done: Int64(data.count), transferred: Int64(data.count))
            if Date().timeIntervalSince(lastReport) > 0.1 { lastReport = Date(); progress?(state.snapshot()) }
        }, onRetry: {
            try handle.synchronize()
        })
        try handle.synchronize()
    }
}

public enum SwiftCapHubInfo {
    public static let userAgent = "swiftcap"
}
