import ArgumentParser
import Foundation
import SwiftCap

struct BenchBatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Batch-job throughput against the one-photo-at-a-time loop, alternated in one process over the same photos.",
        discussion: """
        Each round captions the same photos three ways with one loaded model: the loop `caption` runs \
        without --out (decode + describe, one photo after another, all threads), then the batch job \
        (BatchRunner: reader thread + workers, into a temporary JSON-lines file) with 1 worker and with \
        --workers workers. Prints photos/s per round, medians and the ratio to the loop.
        """)

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "Photos or directories (default: <shared>/eval/coco-dev/images).") var inputs: [String] = []
    @Option(help: "Rounds (each runs every configuration once).") var rounds = 3
    @Option(help: "Photos per configuration and round (from the start of the list).") var photos = 100
    @Option(help: "Workers of the parallel batch configuration.") var workers = 2

    func validate() throws {
        guard rounds >= 1, photos >= 1, workers >= 1 else { throw ValidationError("--rounds, --photos and --workers must be at least 1") }
    }

    func run() throws {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        let list = Array(try expandImageInputs(inputs.isEmpty ? [paths.sharedFile("eval/coco-dev/images").path] : inputs,
                                               recursive: false).prefix(photos))
        let threads = compute.device.threads
        let captioner = try DefaultCaptioner(paths: paths, device: compute.device,
                                             conceptHead: DefaultCaptioner.defaultConceptHeadURL(repositoryRoot: repositoryRootGuess()))
        for w in captioner.warnings { printError("warning: \(w)") }
        for p in list.prefix(3) { _ = try captioner.describe(imageAt: URL(fileURLWithPath: p)) }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("bench-batch-\(getpid()).jsonl")
        defer { try? FileManager.default.removeItem(at: tmp) }
        func rate(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(list.count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        func batch(_ w: Int) throws {
            try? FileManager.default.removeItem(at: tmp)
            let job = DefaultBatchCaptioner(captioner: captioner, workers: w, threads: threads)
            _ = try BatchRunner(workers: w, prefetch: max(4, w), readers: 1).run(photos: list, captioner: job, journal: try ResultJournal(url: tmp))
        }
        let names = ["one-at-a-time loop (\(threads) threads)", "batch job, 1 worker x \(threads) threads",
                     "batch job, \(workers) workers x \(max(1, threads / workers)) thread(s)"]
        var rates = Array(repeating: [Double](), count: 3)
        for _ in 0..<rounds {
            rates[0].append(try rate { for p in list { _ = try captioner.describe(imageAt: URL(fileURLWithPath: p)) } })
            rates[1].append(try rate { try batch(1) })
            rates[2].append(try rate { try batch(workers) })
        }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        let base = median(rates[0])
        print("\(list.count) photos per run, \(rounds) rounds alternated in one process, one loaded model (concepts decoder, no embeddings); "
              + "load average \(loadAverage().map { String(format: "%.2f", $0) }.joined(separator: " "))")
        print("| run | photos/s per round | median | × loop |")
        print("|---|---|---|---|")
        for (i, n) in names.enumerated() {
            print("| \(n) | \(rates[i].map { String(format: "%.1f", $0) }.joined(separator: ", ")) | \(String(format: "%.1f", median(rates[i]))) | \(String(format: "%.2f", median(rates[i]) / base)) |")
        }
        let paired = zip(rates[2], rates[0]).map { $0 / $1 }
        print("per-round ratio, \(names[2]) / loop: \(paired.map { String(format: "%.2f", $0) }.joined(separator: ", ")) (median \(String(format: "%.2f", median(paired))))")
    }
}
