import Foundation
import SwiftCapImage

/// What a batch job needs from a captioner: a prefetch stage (file → decoded photo, run on reader
/// threads ahead of inference) and an inference stage run by `workers` threads at once.
public protocol BatchPhotoCaptioner: Sendable {
    func load(_ path: String) throws -> RGBImage
    /// `worker` is 0..<workers; each worker owns its compute resources (its own `Device`).
    func caption(_ image: RGBImage, worker: Int) throws -> BatchCaption
}

public struct BatchCaption: Sendable, Equatable {
    public var caption: String
    public var keywords: [String]
    public var embedding: [Float]?

    public init(caption: String, keywords: [String], embedding: [Float]? = nil) {
        self.caption = caption
        self.keywords = keywords
        self.embedding = embedding
    }
}

public struct BatchProgress: Sendable {
    /// Photos of this run written so far, and how many this run has to do (already-done ones excluded).
    public var done: Int
    public var total: Int
    public var failed: Int
    /// Photos found already done in the output when the job started.
    public var skipped: Int
    public var seconds: Double
    public var photosPerSecond: Double { seconds > 0 ? Double(done) / seconds : 0 }
    public var etaSeconds: Double? { done > 0 ? Double(total - done) / photosPerSecond : nil }
}

public struct BatchSummary: Sendable {
    public var listed: Int
    public var inShard: Int
    public var skipped: Int
    public var captioned: Int
    public var failed: Int
    public var repairedBytes: Int
    public var seconds: Double
}

/// Runs a captioning job over a photo list into a `ResultJournal`: resumable (photos whose key is already
/// in the output are skipped), shardable, with decoding overlapped with inference through a bounded
/// queue (so memory stays flat however long the list), and results written in list order.
public struct BatchRunner {
    public var workers: Int
    /// Decoded photos held ahead of the workers (bounded, so RSS does not grow with the list).
    public var prefetch: Int
    public var readers: Int
    public var shard: Shard?

    public init(workers: Int = 1, prefetch: Int = 4, readers: Int = 1, shard: Shard? = nil) {
        self.workers = max(1, workers)
        self.prefetch = max(1, prefetch)
        self.readers = max(1, readers)
        self.shard = shard
    }

    /// `sidecar` runs after a photo's caption and before its record is written (so a written record means
    /// the sidecar is there too); its error becomes the photo's error. `progress` is called after each write.
    public func run(photos: [String], captioner: some BatchPhotoCaptioner, journal: ResultJournal,
                    sidecar: ((String, BatchRecord) throws -> Void)? = nil,
                    progress: ((BatchProgress) -> Void)? = nil) throws -> BatchSummary {
        let start = Date()
        var seen = Set<String>()
        let unique = photos.filter { seen.insert($0).inserted }
        let mine = shard.map { s in unique.filter { s.contains($0) } } ?? unique
        let done = Set(journal.existing.map(\.key))
        var toDo: [PhotoKey] = []
        for path in mine {
            let key = PhotoKey.stat(path) ?? PhotoKey(path: path, size: -1, mtimeNanoseconds: 0)
            if !done.contains(key) { toDo.append(key) }
        }
        let pending = toDo
        let state = RunState(total: pending.count, skipped: mine.count - pending.count, start: start)
        let queue = BoundedQueue<(Int, Result<RGBImage, Error>)>(capacity: prefetch)
        let group = DispatchGroup()

        for _ in 0..<min(readers, max(1, pending.count)) {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while let i = state.nextToRead(limit: pending.count) {
                    let key = pending[i]
                    let loaded: Result<RGBImage, Error> = key.size < 0
                        ? .failure(BatchError.output("cannot read file (missing, not a regular file, or no permission)"))
                        : Result { try captioner.load(key.path) }
                    if !queue.push((i, loaded)) { return }
                }
            }
        }
        let readersDone = DispatchGroup()
        readersDone.enter()
        DispatchQueue.global().async { group.wait(); queue.close(); readersDone.leave() }

        let workersDone = DispatchGroup()
        for w in 0..<workers {
            workersDone.enter()
            Thread.detachNewThread {
                defer { workersDone.leave() }
                while let (i, loaded) = queue.pop() {
                    let key = pending[i]
                    var record: BatchRecord
                    do {
                        let c = try captioner.caption(try loaded.get(), worker: w)
                        record = BatchRecord(key: key, caption: c.caption, keywords: c.keywords, embedding: c.embedding)
                        if let sidecar {
                            do { try sidecar(key.path, record) } catch {
                                record = BatchRecord(key: key, caption: c.caption, keywords: c.keywords, embedding: c.embedding,
                                                     error: "sidecar: \(error)")
                            }
                        }
                    } catch {
                        record = BatchRecord(key: key, caption: nil, error: "\(error)")
                    }
                    if !state.deliver(i, record, journal: journal, progress: progress) { queue.close(); return }
                }
            }
        }
        workersDone.wait()
        queue.close()
        readersDone.wait()
        journal.sync()
        if let e = state.writeError { throw e }
        return BatchSummary(listed: unique.count, inShard: mine.count, skipped: state.skipped, captioned: state.written - state.failed,
                            failed: state.failed, repairedBytes: journal.repairedBytes, seconds: Date().timeIntervalSince(start))
    }
}

/// Shared by the job's threads: the read cursor and the in-order writer.
private final class RunState: @unchecked Sendable {
    let lock = NSLock()
    let total: Int
    let skipped: Int
    let start: Date
    var readCursor = 0
    var nextToWrite = 0
    var buffered: [Int: BatchRecord] = [:]
    var written = 0
    var failed = 0
    var writeError: Error?

    init(total: Int, skipped: Int, start: Date) {
        self.total = total
        self.skipped = skipped
        self.start = start
    }

    func nextToRead(limit: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard writeError == nil, readCursor < limit else { return nil }
        readCursor += 1
        return readCursor - 1
    }

    /// Buffers `record` and writes every record that is next in list order. false after a write error.
    func deliver(_ i: Int, _ record: BatchRecord, journal: ResultJournal, progress: ((BatchProgress) -> Void)?) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard writeError == nil else { return false }
        buffered[i] = record
        while let r = buffered.removeValue(forKey: nextToWrite) {
            do { try journal.append(r) } catch { writeError = error; return false }
            nextToWrite += 1
            written += 1
            if r.error != nil { failed += 1 }
            progress?(BatchProgress(done: written, total: total, failed: failed, skipped: skipped,
                                    seconds: Date().timeIntervalSince(start)))
        }
        return true
    }
}

/// A blocking FIFO of bounded size; `close()` wakes everyone, after which `pop` drains then returns nil
/// and `push` returns false.
final class BoundedQueue<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [T] = []
    private var head = 0
    private let capacity: Int
    private var closed = false

    init(capacity: Int) { self.capacity = capacity }

    func push(_ item: T) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while items.count - head >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    func pop() -> T? {
        condition.lock(); defer { condition.unlock() }
        while items.count == head && !closed { condition.wait() }
        guard items.count > head else { return nil }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        condition.broadcast()
        return item
    }

    func close() {
        condition.lock(); defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }
}
