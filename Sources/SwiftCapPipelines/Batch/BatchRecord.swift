import Foundation
import SwiftCapFormats
#if canImport(Glibc)
import Glibc
#endif

/// What identifies one photo's result across runs: the path as listed, its size and its modification time.
/// A photo whose size or modification time changed is captioned again.
public struct PhotoKey: Hashable, Sendable, Codable {
    public var path: String
    public var size: Int64
    /// Modification time in nanoseconds since 1970 (`stat`'s st_mtim; exact, unlike a Double of seconds).
    public var mtimeNanoseconds: Int64

    public init(path: String, size: Int64, mtimeNanoseconds: Int64) {
        self.path = path
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
    }

    /// `stat(2)` of `path`; nil when the file cannot be read (reported as an error record by the job).
    public static func stat(_ path: String) -> PhotoKey? {
        var st = Glibc.stat()
        guard lstatOrStat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let ns = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        return PhotoKey(path: path, size: Int64(st.st_size), mtimeNanoseconds: ns)
    }
}

/// One line of a batch job's output: a photo's caption (or why it has none), keyed by `PhotoKey`.
public struct BatchRecord: Sendable, Equatable, Codable {
    public var path: String
    public var size: Int64
    public var mtime_ns: Int64
    public var caption: String?
    /// The concept words behind the caption (detected objects, classifier labels, the concept head's
    /// strongest words), most confident first; written as XMP `dc:subject` keywords.
    public var keywords: [String]
    /// The caption's sentence embedding (all-MiniLM-L6-v2, unit length) as base64 little-endian Float16,
    /// for `swiftcap search`; absent when the job ran without the embedder.
    public var embedding: String?
    public var error: String?

    public init(key: PhotoKey, caption: String?, keywords: [String] = [], embedding: [Float]? = nil, error: String? = nil) {
        path = key.path
        size = key.size
        mtime_ns = key.mtimeNanoseconds
        self.caption = caption
        self.keywords = keywords
        self.embedding = embedding.map(BatchRecord.encodeEmbedding)
        self.error = error
    }

    public var key: PhotoKey { PhotoKey(path: path, size: size, mtimeNanoseconds: mtime_ns) }

    /// The JSON-lines form: fields in a fixed, readable order (path first, the long embedding last),
    /// absent ones omitted, no line break inside. (Foundation's encoder does not keep key order here.)
    public var jsonLine: String {
        let str = JSONText.string
        var parts = ["\"path\":\(str(path))", "\"size\":\(size)", "\"mtime_ns\":\(mtime_ns)"]
        if let caption { parts.append("\"caption\":\(str(caption))") }
        parts.append("\"keywords\":[\(keywords.map(str).joined(separator: ","))]")
        if let error { parts.append("\"error\":\(str(error))") }
        if let embedding { parts.append("\"embedding\":\(str(embedding))") }
        return "{" + parts.joined(separator: ",") + "}"
    }

    public var embeddingVector: [Float]? { embedding.flatMap(BatchRecord.decodeEmbedding) }

    public static func encodeEmbedding(_ v: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(v.count * 2)
        for x in v {
            let b = Float16(x).bitPattern
            bytes.append(UInt8(b & 0xff))
            bytes.append(UInt8(b >> 8))
        }
        return Data(bytes).base64EncodedString()
    }

    public static func decodeEmbedding(_ s: String) -> [Float]? {
        guard let d = Data(base64Encoded: s), d.count % 2 == 0 else { return nil }
        let b = [UInt8](d)
        return stride(from: 0, to: b.count, by: 2).map { Float(Float16(bitPattern: UInt16(b[$0]) | UInt16(b[$0 + 1]) << 8)) }
    }

    /// CSV columns (the embedding is JSON-lines only).
    public static let csvHeader = ["path", "size", "mtime_ns", "caption", "keywords", "error"]

    public var csvFields: [String] {
        [path, String(size), String(mtime_ns), caption ?? "", keywords.joined(separator: "; "), error ?? ""]
    }

    public init?(csvFields f: [String]) {
        guard f.count == BatchRecord.csvHeader.count, let size = Int64(f[1]), let mtime = Int64(f[2]) else { return nil }
        path = f[0]
        self.size = size
        mtime_ns = mtime
        caption = f[3].isEmpty ? nil : f[3]
        keywords = f[4].isEmpty ? [] : f[4].components(separatedBy: "; ")
        embedding = nil
        error = f[5].isEmpty ? nil : f[5]
    }
}

/// `--shard K/N`: photo `path` belongs to shard `index` when FNV-1a-64(path) mod count == index.
/// Deterministic across machines and runs (depends only on the path string as listed).
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw BatchError.badShard("shard count must be at least 1, got \(count)") }
        guard (0..<count).contains(index) else {
            throw BatchError.badShard("shard index \(index) is outside 0..\(count - 1) (shards are numbered from 0)")
        }
        self.index = index
        self.count = count
    }

    /// Parses "K/N" (K counted from 0).
    public init(parsing s: String) throws {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw BatchError.badShard("'\(s)' is not K/N (e.g. 0/4 for the first of four shards)")
        }
        try self.init(index: k, count: n)
    }

    /// The shard a cluster scheduler assigned: Kubernetes Indexed Jobs (`JOB_COMPLETION_INDEX` with
    /// `JOB_COMPLETIONS`) or Slurm job arrays (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`, over
    /// `SLURM_ARRAY_TASK_COUNT`). nil when neither is set.
    public static func fromEnvironment(_ env: [String: String]) throws -> Shard? {
        func int(_ key: String) throws -> Int? {
            guard let v = env[key] else { return nil }
            guard let i = Int(v.trimmingCharacters(in: .whitespaces)) else { throw BatchError.badShard("\(key)=\(v) is not an integer") }
            return i
        }
        if let k = try int("JOB_COMPLETION_INDEX") {
            guard let n = try int("JOB_COMPLETIONS") else {
                throw BatchError.badShard("JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not (set completions in the Indexed Job, or pass --shard K/N)")
            }
            return try Shard(index: k, count: n)
        }
        if let id = try int("SLURM_ARRAY_TASK_ID") {
            guard let n = try int("SLURM_ARRAY_TASK_COUNT") else {
                throw BatchError.badShard("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (pass --shard K/N)")
            }
            return try Shard(index: id - (try int("SLURM_ARRAY_TASK_MIN") ?? 0), count: n)
        }
        return nil
    }

    public func contains(_ path: String) -> Bool {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in path.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return Int(h % UInt64(count)) == index
    }

    public var description: String { "\(index)/\(count)" }
}

/// `stat(2)` (follows symlinks), spelled apart from the struct of the same name.
private func lstatOrStat(_ path: String, _ st: inout Glibc.stat) -> Int32 { stat(path, &st) }

public enum BatchError: Error, CustomStringConvertible, Equatable {
    case badShard(String)
    case output(String)
    case unreadableRecord(file: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .badShard(let m): return "shard: \(m)"
        case .output(let m): return m
        case .unreadableRecord(let f, let l, let r): return "\(f):\(l): not a caption record (\(r))"
        }
    }
}
