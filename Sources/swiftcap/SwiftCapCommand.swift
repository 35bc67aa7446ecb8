import ArgumentParser
import Foundation
import SwiftCap

@main
struct SwiftCapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftcap",
        abstract: "On-device image captioning.",
        version: SwiftCapVersion.string,
        subcommands: [Caption.self, Serve.self, Models.self, Merge.self, Search.self, Eval.self, Info.self, Bench.self, Index.self, Inspect.self, Detect.self, Quantize.self, Train.self, Tune.self, Features.self, DecodeEvidence.self, LLMCaption.self],
        defaultSubcommand: Info.self
    )
}

/// Options shared by every subcommand that computes.
struct ComputeOptions: ParsableArguments {
    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads must be between 1 and 1024, got \(threads)")
        }
    }

    var device: Device { Device(threads: threads) }
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
