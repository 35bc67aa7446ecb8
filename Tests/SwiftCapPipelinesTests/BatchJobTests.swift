import CKernels
import Foundation
import SwiftCapImage
import XCTest
@testable import SwiftCapPipelines

/// A deterministic stand-in for the captioner (real decoding, arithmetic "caption"), slow enough that
/// kills land mid-job.
struct PixelCaptioner: BatchPhotoCaptioner {
    var delayMicroseconds: UInt32 = 2_000
    func load(_ path: String) throws -> RGBImage { try ImageDecoder().decode(contentsOf: URL(fileURLWithPath: path)) }
    func caption(_ image: RGBImage, worker: Int) throws -> BatchCaption {
        usleep(delayMicroseconds)
        let sum = image.pixels.reduce(0) { $0 + Int($1) }
        return BatchCaption(caption: "a \(image.width)x\(image.height) photo, pixel sum \(sum)",
                            keywords: ["w\(image.width)", "h\(image.height)"], embedding: [Float(image.width) / 100, 0.5, -1])
    }
}

final class BatchJobTests: XCTestCase {
    static let childKey = "SWIFTCAP_BATCH_CHILD_OUT"

    /// `count` small distinct PNGs (and one corrupt file) in a fresh folder; returns the sorted photo paths.
    func makePhotos(count: Int) throws -> (URL, [String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var paths: [String] = []
        for i in 0..<count {
            let w = 8 + i % 7, h = 6 + i % 5
            let pixels = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 * (i + 3)) }
            let url = dir.appendingPathComponent(String(format: "p%03d.png", i))
            try PNGWriter.write(try RGBImage(width: w, height: h, pixels: pixels), to: url)
            paths.append(url.path)
        }
        let bad = dir.appendingPathComponent("p999-corrupt.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).write(to: bad)
        paths.append(bad.path)
        return (dir, paths.sorted())
    }

    func testShardParsingAndSchedulerEnvironment() throws {
        XCTAssertEqual(try Shard(parsing: "1/4"), try Shard(index: 1, count: 4))
        for bad in ["4/4", "-1/2", "a/b", "1", "1/0", "1/2/3"] {
            XCTAssertThrowsError(try Shard(parsing: bad), bad)
        }
        XCTAssertEqual(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "2", "JOB_COMPLETIONS": "3"]), try Shard(index: 2, count: 3))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"]),
                       try Shard(index: 3, count: 4))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"]), try Shard(index: 2, count: 3))
        XCTAssertNil(try Shard.fromEnvironment(["HOME": "/root"]))
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "1"]))
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "2"]))
        // Every path lands in exactly one shard, and the shards are not lopsided.
        let paths = (0..<3000).map { "/photos/\($0 / 100)/IMG_\($0).jpg" }
        let shards = try (0..<3).map { try Shard(index: $0, count: 3) }
        var sizes = [0, 0, 0]
        for p in paths {
            let owners = shards.filter { $0.contains(p) }
            XCTAssertEqual(owners.count, 1)
            sizes[owners[0].index] += 1
        }
        XCTAssertTrue(sizes.allSatisfy { $0 > 900 && $0 < 1100 }, "\(sizes)")
    }

    func testJournalRoundTripsAndCutsATornLine() throws {
        for ext in ["jsonl", "csv"] {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).\(ext)")
            defer { try? FileManager.default.removeItem(at: url) }
            let records = [
                BatchRecord(key: PhotoKey(path: "/a/x, \"quoted\".jpg", size: 10, mtimeNanoseconds: 1_700_000_000_123_456_789),
                            caption: "a dog, on a \"sofa\" \\ back\u{01}\u{2028}\ttab", keywords: ["dog", "sofa", "é日本😀"], embedding: ext == "jsonl" ? [0.25, -1, 0.5] : nil),
                BatchRecord(key: PhotoKey(path: "/a/é日本.png", size: 11, mtimeNanoseconds: 5), caption: nil, error: "JPEG: premature end\nof data"),
            ]
            do {
                let j = try ResultJournal(url: url)
                XCTAssertTrue(j.existing.isEmpty)
                for r in records { try j.append(r) }
            }
            var expected = records
            expected[1].error = ext == "csv" ? "JPEG: premature end of data" : records[1].error
            XCTAssertEqual(try ResultJournal.read(url), expected)
            XCTAssertEqual(records[0].embeddingVector ?? [], ext == "jsonl" ? [0.25, -1, 0.5] : [])
            // A torn last line (the job died mid-write) is cut off on open and the file stays appendable.
            let full = try Data(contentsOf: url)
            let h = try FileHandle(forWritingTo: url)
            h.seekToEndOfFile()
            let torn = Data("{\"path\":\"/a/torn.jpg\",\"si".utf8)
            h.write(torn)
            h.closeFile()
            let j = try ResultJournal(url: url)
            XCTAssertEqual(j.repairedBytes, torn.count)
            XCTAssertEqual(j.existing, expected)
            XCTAssertEqual(try Data(contentsOf: url), full)
        }
        // A damaged line that is not the last is refused, not skipped or overwritten.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("not json\n{}\n".utf8).write(to: url)
        XCTAssertThrowsError(try ResultJournal(url: url)) { XCTAssertTrue("\($0)".contains(":1: not a caption record"), "\($0)") }
        XCTAssertEqual(try Data(contentsOf: url), Data("not json\n{}\n".utf8))
    }

    func testRunnerWritesEveryPhotoOnceInListOrderAndResumes() throws {
        let (dir, photos) = try makePhotos(count: 30)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.jsonl")
        var seen: [BatchProgress] = []
        let s = try BatchRunner(workers: 3, prefetch: 2).run(photos: photos + [dir.appendingPathComponent("missing.png").path],
                                                             captioner: PixelCaptioner(), journal: try ResultJournal(url: out)) { seen.append($0) }
        XCTAssertEqual(s.captioned, 30)
        XCTAssertEqual(s.failed, 2)
        let records = try ResultJournal.read(out)
        XCTAssertEqual(records.map(\.path), photos + [dir.appendingPathComponent("missing.png").path])
        XCTAssertNotNil(records.first { $0.path.hasSuffix("corrupt.jpg") }?.error)
        XCTAssertEqual(seen.map(\.done), Array(1...32))
        // Nothing to do on a re-run; a touched photo is captioned again.
        let again = try BatchRunner(workers: 2).run(photos: photos, captioner: PixelCaptioner(), journal: try ResultJournal(url: out))
        XCTAssertEqual(again.skipped, 31)
        XCTAssertEqual(again.captioned + again.failed, 0)
        let touched = photos[4]
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: touched)
        let third = try BatchRunner(workers: 2).run(photos: photos, captioner: PixelCaptioner(), journal: try ResultJournal(url: out))
        XCTAssertEqual(third.captioned, 1)
        XCTAssertEqual(try ResultMerge.merge([out]).count, 32)
    }

    /// The child side of the kill test: runs the job named by the environment until done or killed.
    func testChildJob() throws {
        guard let out = ProcessInfo.processInfo.environment[BatchJobTests.childKey] else { throw XCTSkip("only run as a child of the kill/shard tests") }
        let photos = try String(contentsOfFile: out + ".list", encoding: .utf8).split(separator: "\n").map(String.init)
        let shard = try Shard.fromEnvironment(ProcessInfo.processInfo.environment)
        let delay = UInt32(ProcessInfo.processInfo.environment["SWIFTCAP_BATCH_CHILD_DELAY_US"] ?? "") ?? 2_000
        _ = try BatchRunner(workers: 2, prefetch: 3, shard: shard).run(photos: photos, captioner: PixelCaptioner(delayMicroseconds: delay), journal: try ResultJournal(url: URL(fileURLWithPath: out)))
    }

    func child(out: URL, photos: [String], env extra: [String: String] = [:]) throws -> Process {
        try photos.joined(separator: "\n").write(toFile: out.path + ".list", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["SwiftCapPipelinesTests.BatchJobTests/testChildJob"]
        var env = ProcessInfo.processInfo.environment
        env[BatchJobTests.childKey] = out.path
        for (k, v) in extra { env[k] = v }
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Kills the job with SIGKILL at random points, 50 times (and tears its last line on purpose every
    /// 10th time, as a crash mid-write would), then lets it finish: every photo appears exactly once and
    /// the output equals a clean run's.
    func testSIGKILLAtRandomPointsLosesAndDuplicatesNothing() throws {
        if ProcessInfo.processInfo.environment[BatchJobTests.childKey] != nil { throw XCTSkip("child process") }
        let (dir, photos) = try makePhotos(count: 150)
        defer { try? FileManager.default.removeItem(at: dir) }
        let clean = dir.appendingPathComponent("clean.jsonl")
        _ = try BatchRunner(workers: 2).run(photos: photos, captioner: PixelCaptioner(), journal: try ResultJournal(url: clean))
        let out = dir.appendingPathComponent("killed.jsonl")
        var generator = SystemRandomNumberGenerator()
        var kills = 0, tears = 0, progressed = 0
        var lastCount = 0
        for attempt in 0..<50 {
            // 40 ms per photo and worker: ~3 s of work in all. Each child is killed 0-60 ms after it has
            // written something, so kills land mid-job (between, during or right after writes).
            let before = (try? FileManager.default.attributesOfItem(atPath: out.path)[.size] as? Int) ?? 0
            let p = try child(out: out, photos: photos, env: ["SWIFTCAP_BATCH_CHILD_DELAY_US": "40000"])
            let deadline = Date().addingTimeInterval(10)
            while p.isRunning && Date() < deadline && ((try? FileManager.default.attributesOfItem(atPath: out.path)[.size] as? Int) ?? 0) <= before {
                usleep(2_000)
            }
            usleep(UInt32.random(in: 0...60_000, using: &generator))
            if p.isRunning { kill(p.processIdentifier, SIGKILL); kills += 1 }
            p.waitUntilExit()
            if attempt % 10 == 9, let data = try? Data(contentsOf: out), data.count > 40 {
                // A torn write: half of a copy of the last record.
                let lines = data.split(separator: UInt8(ascii: "\n"))
                let h = try FileHandle(forWritingTo: out)
                h.seekToEndOfFile()
                h.write(Data(lines.last!.prefix(lines.last!.count / 2)))
                h.closeFile()
                tears += 1
            }
            let n = (try? ResultJournal.read(out).count) ?? 0
            if n > lastCount { progressed += 1 }
            lastCount = n
        }
        let finisher = try child(out: out, photos: photos)
        finisher.waitUntilExit()
        XCTAssertEqual(finisher.terminationStatus, 0)
        let records = try ResultJournal.read(out)
        XCTAssertEqual(Set(records.map(\.path)).count, records.count, "a photo was written twice")
        XCTAssertEqual(records, try ResultJournal.read(clean), "killed-and-resumed output differs from a clean run")
        XCTAssertGreaterThanOrEqual(kills, 40, "too few kills landed mid-job")
        XCTAssertGreaterThanOrEqual(tears, 1)
        XCTAssertGreaterThan(progressed, 20)
        XCTAssertLessThan(lastCount, photos.count, "the job finished before the last kill")
    }

    /// N processes, each given its shard the way Kubernetes and Slurm do, merge into the single-process result.
    func testShardProcessesMergeToTheSingleProcessResult() throws {
        if ProcessInfo.processInfo.environment[BatchJobTests.childKey] != nil { throw XCTSkip("child process") }
        let (dir, photos) = try makePhotos(count: 40)
        defer { try? FileManager.default.removeItem(at: dir) }
        let single = dir.appendingPathComponent("single.jsonl")
        _ = try BatchRunner(workers: 1).run(photos: photos, captioner: PixelCaptioner(), journal: try ResultJournal(url: single))
        for (name, envs) in [("k8s", (0..<3).map { ["JOB_COMPLETION_INDEX": "\($0)", "JOB_COMPLETIONS": "3"] }),
                             ("slurm", (1...4).map { ["SLURM_ARRAY_TASK_ID": "\($0)", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"] })] {
            let outs = envs.indices.map { dir.appendingPathComponent("\(name)-\($0).jsonl") }
            let procs = try zip(outs, envs).map { try child(out: $0, photos: photos, env: $1) }
            for p in procs { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0) }
            let counts = try outs.map { try ResultJournal.read($0).count }
            XCTAssertEqual(counts.reduce(0, +), photos.count, "\(name): \(counts)")
            XCTAssertTrue(counts.allSatisfy { $0 > 0 }, "\(name): \(counts)")
            let merged = dir.appendingPathComponent("\(name)-merged.jsonl")
            try ResultMerge.write(try ResultMerge.merge(outs), to: merged)
            XCTAssertEqual(try Data(contentsOf: merged), try Data(contentsOf: single), name)
        }
    }

    /// The runner's own memory stays flat over a long list: heap in use after 600 photos and after
    /// 3,000 of one run differs by less than 64 bytes per photo (a retained record or image per photo
    /// would be hundreds of bytes to kilobytes).
    func testHeapStaysFlatOverALongList() throws {
        try XCTSkipIf(sc_heap_bytes_in_use() == 0, "no glibc heap statistics here")
        let (dir, photos) = try makePhotos(count: 40)
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = (0..<3000).map { photos[$0 % 39] }
        // Distinct paths for the same 40 files, so nothing is skipped as a duplicate.
        let links = dir.appendingPathComponent("links")
        try FileManager.default.createDirectory(at: links, withIntermediateDirectories: true)
        var paths: [String] = []
        for (i, p) in list.enumerated() {
            let l = links.appendingPathComponent("l\(i).png")
            try FileManager.default.createSymbolicLink(atPath: l.path, withDestinationPath: p)
            paths.append(l.path)
        }
        // Heap in use sampled inside one run (after 600 and after 3,000 photos are written).
        var samples: [Int: Int] = [:]
        let out = dir.appendingPathComponent("heap.jsonl")
        _ = try BatchRunner(workers: 2, prefetch: 4).run(photos: paths, captioner: PixelCaptioner(delayMicroseconds: 0),
                                                         journal: try ResultJournal(url: out)) { p in
            if p.done == 600 || p.done == 3000 { samples[p.done] = sc_heap_bytes_in_use() }
        }
        let small = try XCTUnwrap(samples[600]), large = try XCTUnwrap(samples[3000])
        print("batch runner heap: \(small) bytes after 600 photos, \(large) after 3,000")
        XCTAssertLessThan(Double(large - small) / 2400, 64, "heap grew by \(large - small) bytes over 2,400 more photos")
    }
}
