import ArgumentParser
import Foundation
import SwiftCap

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join the outputs of sharded (or repeated) caption jobs into one file.",
        discussion: """
        One record per photo path (the newest version of a photo wins), sorted by path: the same file a \
        single run over the whole (sorted) listing writes. .jsonl or .csv by extension, in and out. The \
        result is written to a temporary file and renamed, so an interrupted merge leaves nothing half-written.
        """)

    @Argument(help: "Shard outputs (.jsonl or .csv).") var inputs: [String]
    @Option(help: "Merged file (.jsonl or .csv).") var out: String

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give the shard outputs to merge") }
        if inputs.contains(out) { throw ValidationError("--out \(out) is also an input; write the merge to a new file") }
    }

    func run() throws {
        for i in inputs where !FileManager.default.fileExists(atPath: i) { throw InputError(description: "\(i): no such file") }
        let records = try ResultMerge.merge(inputs.map { URL(fileURLWithPath: $0) })
        try ResultMerge.write(records, to: URL(fileURLWithPath: out))
        let failed = records.filter { $0.error != nil }.count
        printError("merge: \(inputs.count) files -> \(records.count) photos (\(failed) with errors) in \(out)")
    }
}
