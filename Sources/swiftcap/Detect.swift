import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench concepts`: per-stage medians of the visual-concept stages.
struct BenchConcepts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concepts",
        abstract: "Per-stage medians (decode, preprocess, detector, classifier) of the concept extractor.")

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Timed repetitions per stage (median reported).") var runs = 20
    @Option(help: "Warm-up repetitions per stage.") var warmup = 3
    @Flag(help: "Print where the detector's time goes (per op kind, summed over one run).") var profile = false

    func run() throws {
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be at least 1") }
        let device = compute.device
        let paths = AssetPaths.fromEnvironment()
        print("threads: \(device.threads), gemm: \(device.gemm.name)")
        var rows: [(String, [Double])] = []

        let detectorURL = paths.sharedFile(PicoDet.sharedRelativePath)
        let detector = try PicoDet(contentsOf: detectorURL)
        let input = Tensor(repeating: 0.1, shape: [1, 3, 416, 416])
        rows.append(("detector network (PicoDet-S 416)", try time { _ = try detector.rawOutputs(input, device: device) }))
        if profile {
            // Per op kind: the smallest per-run total over `runs` runs (the machine may be shared).
            var best: [String: Double] = [:]
            for _ in 0..<runs {
                var byKind: [String: Double] = [:]
                _ = try detector.rawOutputs(input, device: device) { kind, seconds in byKind[kind, default: 0] += seconds }
                for (k, v) in byKind { best[k] = min(best[k] ?? .infinity, v) }
            }
            print("detector time by op kind (min over runs):")
            for (k, v) in best.sorted(by: { $0.value > $1.value }) { print("  " + pad(k, 20) + String(format: "%7.2f ms", v * 1e3)) }
        }
        print(pad("stage", 40) + pad("median ms", 12) + "min ms")
        for (name, samples) in rows {
            let s = samples.sorted()
            print(pad(name, 40) + pad(String(format: "%.2f", s[s.count / 2] * 1e3), 12) + String(format: "%.2f", s[0] * 1e3))
        }
    }

    func time(_ body: () throws -> Void) throws -> [Double] {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return samples
    }
}
