import ArgumentParser
import Foundation
import SwiftCap

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: format, metadata and a table of tensors (safetensors, GGUF, PyTorch, ONNX).")

    @Argument(help: "The checkpoint file.") var file: String
    @Option(help: "Print at most this many tensor rows (default: all).") var maxTensors: Int?
    @Flag(help: "Also load every tensor (dequantizing/converting) to check its data.") var load = false

    func run() throws {
        let url = URL(fileURLWithPath: file)
        let summary: CheckpointSummary
        do {
            summary = try Checkpoint.summary(url)
        } catch {
            printError("swiftcap inspect: \(error)")
            throw ExitCode.failure
        }
        print("file: \(summary.file)")
        print("format: \(summary.format.rawValue), \(summary.bytes) bytes")
        let keyWidth = min(40, summary.metadata.map(\.key.count).max() ?? 0)
        for (k, v) in summary.metadata {
            print("  " + k.padding(toLength: max(keyWidth, k.count), withPad: " ", startingAt: 0) + "  " + v)
        }
        print("tensors: \(summary.tensors.count), \(summary.elementCount) elements")
        let rows = summary.tensors.prefix(maxTensors ?? Int.max)
        let nameWidth = max(4, rows.map(\.name.count).max() ?? 0)
        let dtypeWidth = max(5, rows.map(\.dtype.count).max() ?? 0)
        print("  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " +
              "dtype".padding(toLength: dtypeWidth, withPad: " ", startingAt: 0) + "  shape")
        for r in rows {
            print("  " + r.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " +
                  r.dtype.padding(toLength: dtypeWidth, withPad: " ", startingAt: 0) + "  " +
                  "[" + r.shape.map(String.init).joined(separator: ", ") + "]")
        }
        if rows.count < summary.tensors.count { print("  … \(summary.tensors.count - rows.count) more") }
        if load {
            var failures = 0
            let start = Date()
            do {
                let source = try Checkpoint.open(url)
                for name in source.tensorNames {
                    do { _ = try source.loadTensor(name) } catch {
                        failures += 1
                        printError("swiftcap inspect: \(error)")
                    }
                }
            } catch {
                printError("swiftcap inspect: \(error)")
                throw ExitCode.failure
            }
            let seconds = Date().timeIntervalSince(start)
            print("loaded: \(summary.tensors.count - failures) of \(summary.tensors.count) tensors as fp32 in \(String(format: "%.3f", seconds)) s")
            if failures > 0 { throw ExitCode.failure }
        }
    }
}
