import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The hub cache in huggingface_hub's own layout, so that Python tools and SwiftCap share downloads:
///
///     <cache>/models--ORG--NAME/
///         blobs/<etag>                      file contents (etag: sha256 for LFS files, git blob id otherwise)
///         blobs/<etag>.incomplete           a download in progress (SwiftCap resumes it with an HTTP Range)
///         snapshots/<commit>/<path>         relative symlinks to ../../blobs/<etag>
///         refs/<revision>                   the commit hash a branch or tag pointed to when last resolved
public struct HubCache: Sendable {
    public let root: URL
    public init(root: URL) { self.root = root }

    public func repoFolder(_ repo: RepoID) -> URL { root.appendingPathComponent(repo.cacheFolderName) }
    public func blobsFolder(_ repo: RepoID) -> URL { repoFolder(repo).appendingPathComponent("blobs") }
    public func blob(_ repo: RepoID, etag: String) -> URL { blobsFolder(repo).appendingPathComponent(etag) }
    public func incompleteBlob(_ repo: RepoID, etag: String) -> URL { blobsFolder(repo).appendingPathComponent(etag + ".incomplete") }
    public func refFile(_ repo: RepoID, revision: String) -> URL { repoFolder(repo).appendingPathComponent("refs").appendingPathComponent(revision) }
    public func snapshotFolder(_ repo: RepoID, commit: String) -> URL {
        repoFolder(repo).appendingPathComponent("snapshots").appendingPathComponent(commit)
    }

    /// The commit a revision resolves to without the network: the revision itself when it is a commit hash,
    /// else the content of `refs/<revision>`.
    public func cachedCommit(_ repo: RepoID) -> String? {
        if repo.revisionIsCommit { return repo.revision }
        guard let text = try? String(contentsOf: refFile(repo, revision: repo.revision), encoding: .utf8) else { return nil }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return commit.isEmpty ? nil : commit
    }

    /// The snapshot folder of `repo` from the cache alone, or `HubError.offlineMissing` naming what is missing
    /// (the ref file, the snapshot folder, or one of `requiredFiles`).
    public func cachedSnapshot(_ repo: RepoID, requiredFiles: [String] = []) throws -> URL {
        guard let commit = cachedCommit(repo) else {
            throw HubError.offlineMissing(repo: repo.id, revision: repo.revision,
                                          missing: "\(refFile(repo, revision: repo.revision).path) (no download of this revision in \(root.path))")
        }
        let folder = snapshotFolder(repo, commit: commit)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
            throw HubError.offlineMissing(repo: repo.id, revision: repo.revision, missing: "snapshot folder \(folder.path)")
        }
        for f in requiredFiles where !FileManager.default.fileExists(atPath: folder.appendingPathComponent(f).path) {
            throw HubError.offlineMissing(repo: repo.id, revision: repo.revision, missing: "\(f) in \(folder.path)")
        }
        return folder
    }

    /// Records that `revision` points at `commit` (written to a temporary name, then renamed: never half-written).
    public func writeRef(_ repo: RepoID, revision: String, commit: String) throws {
        guard revision != commit else { return }
        let ref = refFile(repo, revision: revision)
        if (try? String(contentsOf: ref, encoding: .utf8)) == commit { return }
        try createFolder(ref.deletingLastPathComponent())
        let tmp = ref.deletingLastPathComponent().appendingPathComponent(".\(ref.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try Data(commit.utf8).write(to: tmp)
            try replace(tmp, with: ref)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw HubError.io(path: ref.path, "cannot write ref: \(error.localizedDescription)")
        }
    }

    /// Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink, as huggingface_hub does.
    public func linkSnapshotFile(_ repo: RepoID, commit: String, file: String, etag: String) throws {
        let link = snapshotFolder(repo, commit: commit).appendingPathComponent(file)
        try createFolder(link.deletingLastPathComponent())
        let depth = file.split(separator: "/").count - 1          // folders inside the snapshot
        let target = String(repeating: "../", count: 2 + depth) + "blobs/" + etag
        let fm = FileManager.default
        if let existing = try? fm.destinationOfSymbolicLink(atPath: link.path), existing == target { return }
        if (try? fm.attributesOfItem(atPath: link.path)) != nil { try? fm.removeItem(at: link) }
        do { try fm.createSymbolicLink(atPath: link.path, withDestinationPath: target) }
        catch { throw HubError.io(path: link.path, "cannot create symlink to \(target): \(error.localizedDescription)") }
    }

    func createFolder(_ url: URL) throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        catch { throw HubError.io(path: url.path, "cannot create folder: \(error.localizedDescription)") }
    }

    /// rename(2): atomic on one file system, replaces `dest`.
    func replace(_ src: URL, with dest: URL) throws {
        guard rename(src.path, dest.path) == 0 else {
            throw HubError.io(path: dest.path, "cannot move \(src.lastPathComponent) into place: \(String(cString: strerror(errno)))")
        }
    }

    /// `<cache>/.locks/models--ORG--NAME/<etag>.lock`, where huggingface_hub locks a blob while downloading it.
    public func lockFile(_ repo: RepoID, etag: String) -> URL {
        root.appendingPathComponent(".locks").appendingPathComponent(repo.cacheFolderName).appendingPathComponent(etag + ".lock")
    }

    /// An exclusive flock(2) on the blob's lock file (waits for another holder, Python's filelock included).
    public final class BlobLock: @unchecked Sendable {
        private var fd: Int32
        init(fd: Int32) { self.fd = fd }
        public func unlock() {
            guard fd >= 0 else { return }
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
        deinit { unlock() }
    }

    public func lockBlob(_ repo: RepoID, etag: String) throws -> BlobLock {
        let url = lockFile(repo, etag: etag)
        try createFolder(url.deletingLastPathComponent())
        let fd = open(url.path, O_RDWR | O_CREAT, 0o664)
        guard fd >= 0 else { throw HubError.io(path: url.path, "cannot open lock file: \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let e = String(cString: strerror(errno))
            close(fd)
            throw HubError.io(path: url.path, "cannot lock: \(e)")
        }
        return BlobLock(fd: fd)
    }

    // MARK: listing and removal

    public struct CachedRevision: Sendable {
        public let commit: String
        /// Branches/tags (refs) that point at this commit.
        public let refs: [String]
        public let files: [String]
        /// Bytes of the blobs this snapshot links to.
        public let size: Int64
        public let folder: URL
    }

    public struct CachedRepo: Sendable {
        public let id: String
        public let folder: URL
        public let revisions: [CachedRevision]
        /// Bytes of all blobs (shared between revisions counted once), `.incomplete` parts excluded.
        public let size: Int64
        /// Bytes in `.incomplete` downloads waiting to be resumed.
        public let incompleteSize: Int64
    }

    /// The model repositories in the cache (whoever downloaded them), sorted by id.
    public func list() -> [CachedRepo] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root.path) else { return [] }
        var repos: [CachedRepo] = []
        for name in names.sorted() where name.hasPrefix("models--") {
            let folder = root.appendingPathComponent(name)
            let id = name.dropFirst("models--".count).components(separatedBy: "--").joined(separator: "/")
            repos.append(describe(id: id, folder: folder))
        }
        return repos
    }

    public func describe(_ repo: RepoID) -> CachedRepo? {
        let folder = repoFolder(repo)
        guard FileManager.default.fileExists(atPath: folder.path) else { return nil }
        return describe(id: repo.id, folder: folder)
    }

    private func describe(id: String, folder: URL) -> CachedRepo {
        let fm = FileManager.default
        var size: Int64 = 0, incomplete: Int64 = 0
        let blobs = folder.appendingPathComponent("blobs")
        var blobSize: [String: Int64] = [:]
        for b in (try? fm.contentsOfDirectory(atPath: blobs.path)) ?? [] {
            let s = ((try? fm.attributesOfItem(atPath: blobs.appendingPathComponent(b).path))?[.size] as? NSNumber)?.int64Value ?? 0
            if b.hasSuffix(".incomplete") { incomplete += s } else { size += s; blobSize[b] = s }
        }
        var refsByCommit: [String: [String]] = [:]
        let refsRoot = folder.appendingPathComponent("refs")
        if let e = fm.enumerator(atPath: refsRoot.path) {
            while let rel = e.nextObject() as? String {
                let u = refsRoot.appendingPathComponent(rel)
                var isDir: ObjCBool = false
                guard fm.fileExists(atPath: u.path, isDirectory: &isDir), !isDir.boolValue,
                      let c = try? String(contentsOf: u, encoding: .utf8) else { continue }
                refsByCommit[c.trimmingCharacters(in: .whitespacesAndNewlines), default: []].append(rel)
            }
        }
        var revisions: [CachedRevision] = []
        let snaps = folder.appendingPathComponent("snapshots")
        for commit in ((try? fm.contentsOfDirectory(atPath: snaps.path)) ?? []).sorted() {
            let sf = snaps.appendingPathComponent(commit)
            var files: [String] = [], s: Int64 = 0
            if let e = fm.enumerator(atPath: sf.path) {
                while let rel = e.nextObject() as? String {
                    let u = sf.appendingPathComponent(rel)
                    if let dest = try? fm.destinationOfSymbolicLink(atPath: u.path) {
                        files.append(rel)
                        s += blobSize[URL(fileURLWithPath: dest).lastPathComponent] ?? 0
                    } else if let a = try? fm.attributesOfItem(atPath: u.path), (a[.type] as? FileAttributeType) == .typeRegular {
                        files.append(rel)
                        s += (a[.size] as? NSNumber)?.int64Value ?? 0
                    }
                }
            }
            revisions.append(CachedRevision(commit: commit, refs: (refsByCommit[commit] ?? []).sorted(), files: files.sorted(), size: s, folder: sf))
        }
        return CachedRepo(id: id, folder: folder, revisions: revisions, size: size, incompleteSize: incomplete)
    }

    /// Deletes the whole `models--ORG--NAME` folder; false when it was not there.
    @discardableResult
    public func remove(_ repo: RepoID) throws -> Bool {
        let folder = repoFolder(repo)
        guard FileManager.default.fileExists(atPath: folder.path) else { return false }
        do { try FileManager.default.removeItem(at: folder) }
        catch { throw HubError.io(path: folder.path, "cannot remove: \(error.localizedDescription)") }
        return true
    }
}
