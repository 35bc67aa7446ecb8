import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench caption`: end-to-end latency of the default captioner with a per-stage breakdown.
struct BenchCaption: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "End-to-end default-captioner latency (median, p90) per stage over photos, peak RSS, model bytes.")

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "Photos or directories (default: <shared>/eval/coco-dev/images).") var inputs: [String] = []
    @Option(help: "Timed passes over the photos (after one warm-up pass).") var passes = 1
    @Option(help: "Minimum number of timed captions (passes repeat until reached).") var minRuns = 20
    @Flag(help: "Print the table as JSON.") var json = false
    @Option(help: "Decoder: retrieval (default), generative or smollm2.") var decoder: CaptionDecoderKind = .standard

    func run() throws {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        let photos = try expandImageInputs(inputs.isEmpty ? [paths.sharedFile("eval/coco-dev/images").path] : inputs,
                                           recursive: false)
        let loadStart = Date()
        let captioner = try DefaultCaptioner(paths: paths, device: compute.device, decoderKind: decoder,
                                             model: DefaultCaptioner.defaultModelURL(repositoryRoot: repositoryRootGuess()))
        let loadSeconds = Date().timeIntervalSince(loadStart)
        for w in captioner.warnings { printError("warning: \(w)") }
        for p in photos.prefix(3) { _ = try captioner.describe(imageAt: URL(fileURLWithPath: p)) }
        var samples: [StageTimings] = []
        var pass = 0
        while pass < passes || samples.count < minRuns {
            for p in photos { samples.append(try captioner.describe(imageAt: URL(fileURLWithPath: p)).timings) }
            pass += 1
        }
        func stats(_ f: (StageTimings) -> Double) -> (median: Double, p90: Double) {
            let v = samples.map(f).sorted()
            return (v[v.count / 2], v[min(v.count - 1, Int(Double(v.count) * 0.9))])
        }
        let rows: [(String, (median: Double, p90: Double))] = [
            ("decode (JPEG/PNG)", stats(\.decode)), ("detector (PicoDet-S 416, incl. preprocess)", stats(\.detector)),
            ("classifier (EfficientNet-Lite0, incl. preprocess)", stats(\.classifier)),
            ("\(decoder.rawValue) decoder", stats(\.decoder)), ("total", stats(\.total)),
        ]
        let fm = FileManager.default
        func size(_ url: URL) -> Int { (try? fm.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
        let files: [(String, URL)] = [
            ("detector", paths.sharedFile(PicoDet.sharedRelativePath)),
            ("classifier", paths.asset(EfficientNetLite0.assetRelativePath)),
            ("datastore", DefaultCaptioner.defaultDatastoreURL(paths: paths)),
        ]
        if json {
            var obj: [String: Any] = ["threads": compute.device.threads, "captions": samples.count,
                                      "load_seconds": loadSeconds, "peak_rss_bytes": peakRSSBytes()]
            for (name, s) in rows { obj[name] = ["median_ms": s.median, "p90_ms": s.p90] }
            for (name, url) in files { obj["bytes_" + name] = size(url) }
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("default captioner (\(decoder.rawValue) decoder), \(samples.count) captions of \(photos.count) photos, threads \(compute.device.threads), gemm \(compute.device.gemm.name)")
        print(pad("stage", 52) + pad("median ms", 12) + "p90 ms")
        for (name, s) in rows {
            print(pad(name, 52) + pad(String(format: "%.1f", s.median), 12) + String(format: "%.1f", s.p90))
        }
        print(String(format: "load %.2f s, peak RSS %.1f MB", loadSeconds, Double(peakRSSBytes()) / 1e6))
        for (name, url) in files { print(String(format: "%@ on disk: %.1f MB (%@)", name, Double(size(url)) / 1e6, url.lastPathComponent)) }
    }
}
