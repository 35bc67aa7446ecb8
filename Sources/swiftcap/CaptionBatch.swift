import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap caption … --out FILE`: the resumable batch job (docs/batch.md).
struct BatchOptions: ParsableArguments {
    @Option(help: "Write results to FILE (.jsonl, or .csv) and resume from it: photos already in it (same path, size and modification time) are skipped.")
    var out: String?
    @Flag(help: "With --out: caption everything again (the old output is kept as FILE.bak).") var force = false
    @Option(help: "With --out: only shard K of N (K from 0), by a hash of the path. Default from JOB_COMPLETION_INDEX/JOB_COMPLETIONS (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (Slurm array).")
    var shard: String?
    @Option(help: "With --out: captioning workers sharing one loaded model (default: one per thread, at most 8); --threads are split between them.")
    var workers: Int?
    @Option(help: "With --out: decoded photos held ahead of the workers.") var prefetch = 4
    @Option(help: "With --out: write an XMP sidecar per photo (xmp), merged into an existing one.") var sidecar: SidecarKind?
    @Option(help: "Sidecar file name: appended (photo.jpg.xmp, darktable/digiKam) or stem (photo.xmp, Lightroom).")
    var sidecarName: SidecarNaming = .appended
    @Flag(help: "With --out: do not store caption embeddings (they make `swiftcap search` fast).") var noEmbeddings = false
    @Option(help: "Progress on stderr: auto (a bar on a terminal, a line every 10 s otherwise), bar, plain, none.")
    var progress: ProgressStyle = .auto

    func validate() throws {
        if out == nil {
            if force || shard != nil || workers != nil || sidecar != nil { throw ValidationError("--force, --shard, --workers and --sidecar need --out FILE") }
        }
        if let workers, workers < 1 || workers > 64 { throw ValidationError("--workers must be between 1 and 64, got \(workers)") }
        guard prefetch >= 1 && prefetch <= 1024 else { throw ValidationError("--prefetch must be between 1 and 1024, got \(prefetch)") }
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard: \(error)") } }
    }
}

enum SidecarKind: String, ExpressibleByArgument, CaseIterable { case xmp }
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable { case auto, bar, plain, none }
extension SidecarNaming: ExpressibleByArgument {}

func runBatchJob(_ b: BatchOptions, out: String, photos: [String], captioner: DefaultCaptioner, threads: Int,
                 embedder: SentenceEmbedder?) throws {
    let outURL = URL(fileURLWithPath: out)
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue { throw InputError(description: "--out \(out) is a directory") }
    if b.force, fm.fileExists(atPath: out) {
        let bak = out + ".bak"
        try? fm.removeItem(atPath: bak)
        try fm.moveItem(atPath: out, toPath: bak)
        printError("--force: previous results moved to \(bak)")
    }
    let shard = try b.shard.map(Shard.init(parsing:)) ?? Shard.fromEnvironment(ProcessInfo.processInfo.environment)
    let journal = try ResultJournal(url: outURL)
    if journal.repairedBytes > 0 {
        printError("\(out): cut a torn last line (\(journal.repairedBytes) bytes, from an interrupted run); that photo is captioned again")
    }
    let workers = b.workers ?? min(8, threads)
    let embed: (@Sendable (String, Device) throws -> [Float])? = (b.noEmbeddings ? nil : embedder).map { e in { @Sendable text, device in try e.embed(text, device: device) } }
    let batch = DefaultBatchCaptioner(captioner: captioner, workers: workers, threads: threads, embed: embed)
    let sidecarWriter: ((String, BatchRecord) throws -> Void)? = b.sidecar == nil ? nil : { [naming = b.sidecarName] path, record in
        guard let caption = record.caption else { return }
        let photo = URL(fileURLWithPath: path)
        try XMPSidecar.write(XMPFields(description: caption, altText: caption, keywords: record.keywords), to: naming.sidecarURL(for: photo))
    }
    let reporter = ProgressReporter(style: b.progress, label: shard.map { "shard \($0)" } ?? "caption")
    let runner = BatchRunner(workers: workers, prefetch: max(b.prefetch, workers), readers: max(1, workers / 4), shard: shard)
    let summary = try runner.run(photos: photos, captioner: batch, journal: journal, sidecar: sidecarWriter, progress: reporter.update)
    reporter.finish()
    printError(String(format: "%@: %d photos listed%@, %d already done, %d captioned, %d failed, %.1f s (%.2f photos/s) -> %@",
                      reporter.label, summary.listed, shard.map { ", \(summary.inShard) in shard \($0)" } ?? "", summary.skipped,
                      summary.captioned, summary.failed, summary.seconds,
                      summary.seconds > 0 ? Double(summary.captioned + summary.failed) / summary.seconds : 0, out))
    if summary.failed > 0 { throw ExitCode(1) }
}

/// Progress on stderr: a redrawn bar on a terminal, a plain line every 10 s otherwise.
final class ProgressReporter: @unchecked Sendable {
    let label: String
    private let bar: Bool
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private var last: BatchProgress?
    private let lock = NSLock()

    init(style: ProgressStyle, label: String) {
        self.label = label
        let tty = isatty(2) != 0
        bar = style == .bar || (style == .auto && tty)
        enabled = style != .none
    }

    func update(_ p: BatchProgress) {
        lock.lock(); defer { lock.unlock() }
        last = p
        let now = Date()
        guard enabled, now.timeIntervalSince(lastDraw) >= (bar ? 0.2 : 10) || p.done == p.total else { return }
        lastDraw = now
        draw(p)
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if enabled && bar && last != nil { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(_ p: BatchProgress) {
        let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 1
        let eta = p.etaSeconds.flatMap { $0.isFinite ? formatSeconds($0) : nil } ?? "?"
        let stats = String(format: "%d/%d (%.0f%%) %.1f photos/s ETA %@%@", p.done, p.total, fraction * 100, p.photosPerSecond, eta,
                           p.failed > 0 ? ", \(p.failed) failed" : "")
        if bar {
            let width = 30
            let filled = Int(fraction * Double(width))
            let line = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] " + stats + "\u{1B}[K"
            FileHandle.standardError.write(Data(line.utf8))
        } else {
            FileHandle.standardError.write(Data("\(label): \(stats)\n".utf8))
        }
    }
}
