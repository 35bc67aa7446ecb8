import Foundation
import SwiftCapFormats
#if canImport(Glibc)
import Glibc
#endif

/// The output file of a batch job, used as its journal: every result is appended as one whole line with
/// a single `write(2)` on an `O_APPEND` descriptor, so a job killed at any point leaves complete lines
/// plus at most one torn last line. Opening an existing file reads the results already there (they are
/// skipped on resume) and cuts a torn last line off (that photo is captioned again).
///
/// Formats: JSON lines (`.jsonl`, `.json`, anything else) or CSV with a header (`.csv`).
public final class ResultJournal {
    public enum Format: String, Sendable { case jsonl, csv }

    public let url: URL
    public let format: Format
    /// Complete records found in the file when it was opened, in file order.
    public let existing: [BatchRecord]
    /// Bytes of a torn last line removed when the file was opened (0 when the file ended cleanly).
    public let repairedBytes: Int
    private let fd: Int32

    public static func format(for url: URL) -> Format { url.pathExtension.lowercased() == "csv" ? .csv : .jsonl }

    public init(url: URL, format: Format? = nil) throws {
        self.url = url
        let format = format ?? ResultJournal.format(for: url)
        self.format = format
        let fd = open(url.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BatchError.output("\(url.path): cannot open for writing (\(String(cString: strerror(errno))))") }
        self.fd = fd
        do {
            let data = try Data(contentsOf: url)
            var keep = data.count
            if let last = data.last, last != UInt8(ascii: "\n") {
                keep = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
                guard ftruncate(fd, off_t(keep)) == 0 else {
                    throw BatchError.output("\(url.path): cannot cut the torn last line (\(String(cString: strerror(errno))))")
                }
            }
            repairedBytes = data.count - keep
            existing = try ResultJournal.parse(data.prefix(keep), format: format, name: url.path)
            if format == .csv && keep == 0 { try writeLine(CSV.row(BatchRecord.csvHeader)) }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Parses complete lines of a journal (a torn last line must already be cut off).
    public static func parse(_ data: Data, format: Format, name: String) throws -> [BatchRecord] {
        var out: [BatchRecord] = []
        let decoder = JSONDecoder()
        var lineNumber = 0
        var start = data.startIndex
        while start < data.endIndex {
            let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
            lineNumber += 1
            let line = data[start..<end]
            start = end < data.endIndex ? end + 1 : end
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            switch format {
            case .jsonl:
                do { out.append(try decoder.decode(BatchRecord.self, from: line)) } catch {
                    throw BatchError.unreadableRecord(file: name, line: lineNumber, reason: "invalid JSON record")
                }
            case .csv:
                let fields = CSV.parseRows(String(decoding: line, as: UTF8.self)).first ?? []
                if lineNumber == 1 {
                    guard fields == BatchRecord.csvHeader else {
                        throw BatchError.unreadableRecord(file: name, line: 1, reason: "header is not \(BatchRecord.csvHeader.joined(separator: ","))")
                    }
                    continue
                }
                guard let r = BatchRecord(csvFields: fields) else {
                    throw BatchError.unreadableRecord(file: name, line: lineNumber, reason: "expected \(BatchRecord.csvHeader.count) CSV fields")
                }
                out.append(r)
            }
        }
        return out
    }

    /// Reads a whole journal file (ignoring a torn last line) without opening it for writing.
    public static func read(_ url: URL) throws -> [BatchRecord] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw BatchError.output("\(url.path): cannot read (\(error.localizedDescription))") }
        let keep = data.last == UInt8(ascii: "\n") || data.isEmpty ? data.count : ((data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0)
        return try parse(data.prefix(keep), format: format(for: url), name: url.path)
    }

    /// The line a record is written as (no line break inside: JSON escapes it, CSV fields are made one-line;
    /// CSV rows end with CRLF as RFC 4180 says, JSON lines with LF).
    public func line(_ record: BatchRecord) throws -> String {
        switch format {
        case .jsonl: return record.jsonLine
        case .csv: return CSV.row(record.csvFields.map { String(String.UnicodeScalarView($0.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 })) })
        }
    }

    public func append(_ record: BatchRecord) throws { try writeLine(try line(record)) }

    private func writeLine(_ line: String) throws {
        var bytes = Array(line.utf8)
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }  // CSV rows end with CRLF already
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BatchError.output("\(url.path): write failed (\(String(cString: strerror(errno))))")
            }
            done += n
        }
    }

    /// Flushes to stable storage (called at the end of a job; a killed process loses nothing already
    /// written, since the kernel holds the pages).
    public func sync() { fsync(fd) }
}

/// `swiftcap merge`: joins the outputs of shards (or of several runs) into one list.
public enum ResultMerge {
    /// Every record of `files`, one per path (when a path appears more than once, the record of the
    /// newest file version wins, then the later one), sorted by path — the order a single run over a
    /// sorted listing writes. A torn last line of a file is ignored.
    public static func merge(_ files: [URL]) throws -> [BatchRecord] {
        var byPath: [String: BatchRecord] = [:]
        for f in files {
            for r in try ResultJournal.read(f) {
                if let old = byPath[r.path], old.mtime_ns > r.mtime_ns { continue }
                byPath[r.path] = r
            }
        }
        return byPath.values.sorted { $0.path < $1.path }
    }

    /// Writes `records` to `url` atomically (a temporary file in the same folder, then rename), so an
    /// interrupted merge never leaves a half-written file under the final name.
    public static func write(_ records: [BatchRecord], to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        try? FileManager.default.removeItem(at: tmp)
        do {
            let journal = try ResultJournal(url: tmp, format: ResultJournal.format(for: url))
            for r in records { try journal.append(r) }
            journal.sync()
        }
        guard rename(tmp.path, url.path) == 0 else {
            let e = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw BatchError.output("\(url.path): cannot move the merged file into place (\(e))")
        }
    }
}
