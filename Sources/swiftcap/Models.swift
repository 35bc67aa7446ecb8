import ArgumentParser
import Foundation
import SwiftCapHub

/// `swiftcap models pull|list|rm|path`: the Hugging Face hub cache, shared with Python's huggingface_hub.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download hub models into the cache shared with huggingface_hub, list, locate or remove them.",
        discussion: """
        The cache is huggingface_hub's: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. \
        HF_ENDPOINT picks the hub, HF_HUB_OFFLINE=1 forbids any network call, HF_TOKEN (or the file \
        $HF_HOME/token) is sent to the hub host only and never printed. See docs/captioners.md.
        """,
        subcommands: [ModelsPull.self, ModelsList.self, ModelsRemove.self, ModelsPath.self])
}

func parseRepo(_ text: String) throws -> RepoID {
    do { return try RepoID(parsing: text) } catch { throw ValidationError("\(error)") }
}

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var v = Double(n), i = 0
    while v >= 1000, i < units.count - 1 { v /= 1000; i += 1 }
    return i == 0 ? "\(n) B" : String(format: v < 10 ? "%.2f %@" : (v < 100 ? "%.1f %@" : "%.0f %@"), v, units[i])
}

/// A one-line progress display on stderr: redrawn in place on a terminal, a line every 2 s otherwise.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let tty = isatty(STDERR_FILENO) != 0
    private var lastDraw = Date.distantPast
    private var drawn = false
    let label: String
    init(label: String) { self.label = label }

    static func text(_ p: PullProgress, label: String) -> String {
        let speed = p.elapsed > 0 ? Double(p.transferredBytes) / p.elapsed : 0
        let left = max(0, p.totalBytes - p.doneBytes)
        let eta = speed > 0 && left > 0 ? String(format: "ETA %ds", Int((Double(left) / speed).rounded(.up))) : (left == 0 ? "done" : "ETA --")
        let pct = p.totalBytes > 0 ? Int(100 * Double(p.doneBytes) / Double(p.totalBytes)) : 100
        return "\(label): \(pct)% \(formatBytes(p.doneBytes))/\(formatBytes(p.totalBytes)), \(p.filesDone)/\(p.filesTotal) files, \(formatBytes(Int64(speed)))/s, \(eta)"
    }

    func update(_ p: PullProgress) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= (tty ? 0.1 : 2) else { return }
        lastDraw = now
        let line = ProgressLine.text(p, label: label)
        FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + line : line + "\n").utf8))
        drawn = true
    }

    func finish(_ p: PullProgress) {
        lock.lock(); defer { lock.unlock() }
        let line = ProgressLine.text(p, label: label)
        FileHandle.standardError.write(Data(((tty && drawn) ? "\r\u{1B}[K" + line + "\n" : line + "\n").utf8))
    }
}

/// A client for the CLI: environment from the variables, progress and notes on stderr.
func makeHubClient(quiet: Bool = false, label: String) -> (HubClient, ProgressLine?) {
    let client = HubClient(environment: .fromEnvironment())
    client.log = { printError("note: \($0)") }
    guard !quiet else { return (client, nil) }
    let line = ProgressLine(label: label)
    client.progress = { line.update($0) }
    return (client, line)
}

struct ModelsPull: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pull",
        abstract: "Download ORG/NAME[@REVISION] (all files, or those matching --include) into the hub cache.")
    @Argument(help: "Repository: ORG/NAME or ORG/NAME@REVISION (branch, tag or commit).") var repo: String
    @Option(help: "Only files matching this glob (fnmatch, '*' crosses '/'); repeatable.") var include: [String] = []
    @Option(help: "Files downloaded at once.") var parallel = 4
    @Option(help: "Retries of a failed request (dropped connections resume with HTTP Range).") var retries = 3
    @Flag(help: "No progress line.") var quiet = false

    func validate() throws {
        guard (1...32).contains(parallel) else { throw ValidationError("--parallel must be 1…32") }
        guard (0...20).contains(retries) else { throw ValidationError("--retries must be 0…20") }
    }

    func run() throws {
        let id = try parseRepo(repo)
        let (client, line) = makeHubClient(quiet: quiet, label: id.description)
        client.parallelFiles = parallel
        client.maxRetries = retries
        let r = try client.pull(id, include: include)
        let total = r.files.reduce(Int64(0)) { $0 + $1.size }
        line?.finish(PullProgress(totalBytes: total, doneBytes: total, filesDone: r.files.count, filesTotal: r.files.count,
                                  transferredBytes: r.downloadedBytes, elapsed: r.elapsed))
        for f in r.repairedFiles { printError("repaired: \(f) (the cached copy failed its sha256 check and was fetched again)") }
        printError("\(id.id)@\(r.commit): \(r.files.count) files, \(formatBytes(total)) (\(formatBytes(r.downloadedBytes)) downloaded, \(r.reusedFiles) already cached)")
        print(r.snapshot.path)
    }
}

struct ModelsList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Repositories in the hub cache: revisions, files, sizes.")
    @Flag(help: "One JSON object per repository.") var json = false

    func run() throws {
        let env = HubEnvironment.fromEnvironment()
        let repos = HubCache(root: env.cacheDirectory).list()
        if json {
            for r in repos {
                let obj: [String: Any] = ["repo": r.id, "path": r.folder.path, "size": r.size, "incomplete_size": r.incompleteSize,
                                          "revisions": r.revisions.map { ["commit": $0.commit, "refs": $0.refs, "files": $0.files.count, "size": $0.size, "path": $0.folder.path] }]
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        if repos.isEmpty { printError("no models in \(env.cacheDirectory.path)"); return }
        print("REPO\tREVISION\tREFS\tFILES\tSIZE")
        for r in repos {
            if r.revisions.isEmpty { print("\(r.id)\t-\t-\t0\t\(formatBytes(r.size))") }
            for v in r.revisions {
                print("\(r.id)\t\(v.commit.prefix(12))\t\(v.refs.isEmpty ? "-" : v.refs.joined(separator: ","))\t\(v.files.count)\t\(formatBytes(v.size))")
            }
            if r.incompleteSize > 0 { print("\(r.id)\t(partial downloads)\t-\t-\t\(formatBytes(r.incompleteSize))") }
        }
        print("total \(formatBytes(repos.reduce(0) { $0 + $1.size + $1.incompleteSize })) in \(env.cacheDirectory.path)")
    }
}

struct ModelsRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a repository (every revision) from the hub cache.")
    @Argument(help: "Repository: ORG/NAME.") var repo: String

    func run() throws {
        let id = try parseRepo(repo)
        let cache = HubCache(root: HubEnvironment.fromEnvironment().cacheDirectory)
        let size = cache.describe(id).map { $0.size + $0.incompleteSize } ?? 0
        guard try cache.remove(id) else { throw ValidationError("\(id.id) is not in the cache (\(cache.root.path))") }
        printError("removed \(id.id) (\(formatBytes(size)))")
    }
}

struct ModelsPath: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "path",
        abstract: "Print the snapshot folder of ORG/NAME[@REVISION] in the cache (no network call).")
    @Argument(help: "Repository: ORG/NAME or ORG/NAME@REVISION.") var repo: String

    func run() throws {
        let id = try parseRepo(repo)
        print(try HubCache(root: HubEnvironment.fromEnvironment().cacheDirectory).cachedSnapshot(id).path)
    }
}
