import Foundation
import SwiftCapFormats
import SwiftCapTestSupport
import XCTest

/// The `swiftcap` binary as a user runs it (built by `swift build` before `swift test`, as scripts/test.sh
/// does): batch captioning into CSV/JSONL with XMP sidecars read back by exiftool, resume, merge, search,
/// and clear errors for bad flags.
final class BatchCLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let photos = ["000000000285.jpg", "000000000474.jpg", "000000000661.jpg"]

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    func binary() throws -> URL {
        let url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftcap")
        try requireInput(FileManager.default.isExecutableFile(atPath: url.path), "no swiftcap binary beside the tests (run `swift build` first)")
        return url
    }

    @discardableResult
    func run(_ executable: URL, _ args: [String], cwd: URL? = nil) throws -> Run {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        if let cwd { p.currentDirectoryURL = cwd }
        // stderr to a file, stdout through a pipe read to the end (neither can fill up and block the child).
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("cli-stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        let errHandle = try FileHandle(forWritingTo: errURL)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = errHandle
        try p.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try errHandle.close()
        let errData = try Data(contentsOf: errURL)
        return Run(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    func exiftool() throws -> URL {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/exiftool") {
            return URL(fileURLWithPath: dir + "/exiftool")
        }
        throw missingInput("exiftool not installed (scripts/install-deps.sh installs libimage-exiftool-perl)")
    }

    /// A folder with three coco-dev photos and a corrupt one.
    func library() throws -> URL {
        let shared = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SWIFTCAP_SHARED"] ?? BatchCLITests.root.deletingLastPathComponent().appendingPathComponent("shared").path)
        let src = shared.appendingPathComponent("eval/coco-dev/images")
        try requireInput(FileManager.default.fileExists(atPath: src.appendingPathComponent(BatchCLITests.photos[0]).path), "needs ../shared (coco-dev photos)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        for (i, name) in BatchCLITests.photos.enumerated() {
            try FileManager.default.copyItem(at: src.appendingPathComponent(name), to: dir.appendingPathComponent(i == 2 ? "sub/\(name)" : name))
        }
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 0x4A, 0x46]).write(to: dir.appendingPathComponent("broken.jpg"))
        return dir
    }

    func testFolderToCSVWithXMPSidecarsReadBackByExiftoolAndResume() throws {
        let swiftcap = try binary()
        let exif = try exiftool()
        let dir = try library()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A sidecar a photo manager already wrote for the first photo: rating and a keyword to keep.
        let first = dir.appendingPathComponent(BatchCLITests.photos[0])
        let existing = dir.appendingPathComponent(BatchCLITests.photos[0] + ".xmp")
        let made = try run(exif, ["-q", "-o", existing.path, "-XMP-xmp:Rating=5", "-XMP-dc:Subject=family", first.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let photoBytes = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".jpg") }
            .map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        let csv = dir.appendingPathComponent("out/captions.csv")
        try FileManager.default.createDirectory(at: csv.deletingLastPathComponent(), withIntermediateDirectories: true)
        let args = ["caption", dir.path, "--recursive", "--out", csv.path, "--sidecar", "xmp", "--progress", "plain", "--no-embeddings"]
        let r = try run(swiftcap, args)
        XCTAssertEqual(r.status, 1, "a corrupt photo makes the exit status 1\n\(r.stderr)")
        XCTAssertTrue(r.stderr.contains("4 photos listed, 0 already done, 3 captioned, 1 failed"), r.stderr)
        let text = try String(contentsOf: csv, encoding: .utf8)
        let lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        XCTAssertEqual(lines.first, "path,size,mtime_ns,caption,keywords,error")
        XCTAssertEqual(lines.count, 5, text)
        XCTAssertTrue(lines.contains { $0.contains("broken.jpg") && $0.contains("JPEG") }, text)
        // Every captioned photo has a sidecar whose fields exiftool reads back equal to the CSV's.
        for name in [BatchCLITests.photos[0], BatchCLITests.photos[1], "sub/" + BatchCLITests.photos[2]] {
            let photo = dir.appendingPathComponent(name)
            let row = try XCTUnwrap(lines.first { $0.hasPrefix(photo.path + ",") }, name)
            let fields = try XCTUnwrap(CSV.parseRows(row).first)
            XCTAssertEqual(fields.count, 6, row)
            let read = try run(exif, ["-j", "-XMP-dc:Description", "-XMP-iptcCore:AltTextAccessibility", "-XMP-dc:Subject", "-XMP-xmp:Rating",
                                      photo.path + ".xmp"])
            XCTAssertEqual(read.status, 0, read.stderr)
            let obj = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [[String: Any]])?.first)
            let caption = try XCTUnwrap(obj["Description"] as? String, read.stdout)
            XCTAssertEqual(fields[3], caption)
            XCTAssertFalse(caption.isEmpty)
            XCTAssertEqual(obj["AltTextAccessibility"] as? String, caption)
            let subjects = (obj["Subject"] as? [String]) ?? ((obj["Subject"] as? String).map { [$0] } ?? [])
            let keywords = fields[4].split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertFalse(keywords.isEmpty, row)
            for k in keywords { XCTAssertTrue(subjects.contains(k), "\(k) not in \(subjects)") }
            if name == BatchCLITests.photos[0] {
                XCTAssertEqual(obj["Rating"] as? Int, 5, "the existing sidecar's rating was lost: \(read.stdout)")
                XCTAssertTrue(subjects.contains("family"), "\(subjects)")
                XCTAssertTrue(caption.lowercased().contains("bear"), caption)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("broken.jpg.xmp").path))
        let after = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".jpg") }
            .map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        XCTAssertEqual(after, photoBytes, "a photo was modified")
        // Run again: everything is already done and the file is unchanged.
        let again = try run(swiftcap, args)
        XCTAssertTrue(again.stderr.contains("4 already done, 0 captioned, 0 failed"), again.stderr)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8), text)
    }

    func testJSONLinesResumeFromATornLineMergeAndSearch() throws {
        let swiftcap = try binary()
        let dir = try library()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("captions.jsonl")
        let args = ["caption", dir.path, "--recursive", "--out", out.path, "--progress", "none"]
        XCTAssertEqual(try run(swiftcap, args).status, 1)
        let clean = try Data(contentsOf: out)
        // Lose the last two records and tear the one before (as a crash mid-write would), then resume.
        var lines = clean.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        lines = lines.dropLast(2)
        let torn = Data(lines.dropLast().joined(separator: [UInt8(ascii: "\n")])) + Data([UInt8(ascii: "\n")]) + Data(lines.last!.prefix(40))
        try torn.write(to: out)
        let resumed = try run(swiftcap, args)
        XCTAssertTrue(resumed.stderr.contains("cut a torn last line (40 bytes"), resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("1 already done, 2 captioned, 1 failed"), resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: out), clean, "resumed output differs from the clean run")
        // Shards of the same folder merge back to the same file.
        let shards = (0..<2).map { dir.appendingPathComponent("shard-\($0).jsonl") }
        for (k, s) in shards.enumerated() {
            _ = try run(swiftcap, ["caption", dir.path, "--recursive", "--out", s.path, "--shard", "\(k)/2", "--progress", "none"])
        }
        let merged = dir.appendingPathComponent("merged.jsonl")
        let m = try run(swiftcap, ["merge"] + shards.map(\.path) + ["--out", merged.path])
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertEqual(try Data(contentsOf: merged), clean)
        // Search by meaning over the stored embeddings.
        let html = dir.appendingPathComponent("hits.html")
        let s = try run(swiftcap, ["search", "a bear in the grass", out.path, "--top", "2", "--html", html.path])
        XCTAssertEqual(s.status, 0, s.stderr)
        let hits = s.stdout.split(separator: "\n")
        XCTAssertEqual(hits.count, 2, s.stdout)
        XCTAssertTrue(hits.first?.contains(BatchCLITests.photos[0]) == true, s.stdout)
        let page = try String(contentsOf: html, encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "data:image/png;base64,").count - 1, 2)
    }

    func testBadInputsAreClearErrors() throws {
        let swiftcap = try binary()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.jsonl").path
        let cases: [([String], String)] = [
            (["caption", dir.path, "--out", out], "directory has no .jpg"),
            (["caption", "x.jpg", "--out", out, "--shard", "4/4"], "outside 0..3"),
            (["caption", "x.jpg", "--out", out, "--shard", "two"], "is not K/N"),
            (["caption", "x.jpg", "--out", out, "--workers", "0"], "--workers must be between 1 and 64"),
            (["caption", "x.jpg", "--shard", "0/2"], "need --out FILE"),
            (["caption", "x.jpg", "--out", dir.path], "is a directory"),
            (["caption", "@" + dir.appendingPathComponent("nolist.txt").path, "--out", out], "cannot read the list file"),
            (["merge", out, "--out", out], "is also an input"),
            (["merge", dir.appendingPathComponent("none.jsonl").path, "--out", out], "no such file"),
        ]
        for (args, message) in cases {
            let r = try run(swiftcap, args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(message), "\(args.joined(separator: " ")): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
        // A damaged results file is refused with its line number and left as it was.
        try Data("{\"path\":\"a.jpg\"}\nnot json\n{}\n".utf8).write(to: URL(fileURLWithPath: out))
        let photo = dir.appendingPathComponent("p.png")
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: photo)
        let r = try run(swiftcap, ["caption", photo.path, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("o.jsonl:1: not a caption record"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "{\"path\":\"a.jpg\"}\nnot json\n{}\n")
    }
}
