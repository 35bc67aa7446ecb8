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
    @Option(help: "Decoder: concepts (default), neighbours, retrieval, generative or smollm2.") var decoder: CaptionDecoderKind = .standard
    @Option(help: ArgumentHelp(
        "Scaling mode: caption the photos in batches of N and report latency per photo, throughput and peak RSS.",
        discussion: "The pipeline has no batched forward: a batch is N photos captioned one after another in one "
            + "call (photos cycle when N exceeds their number). At least --batch-count batches and --min-runs photos are timed."))
    var batch: Int?
    @Option(help: "With --batch: the least number of timed batches.") var batchCount = 5
    @Option(help: ArgumentHelp(
        "With --batch: caption each batch on K workers at once, each with its own captioner and --threads / K threads "
            + "(throughput mode; the models are loaded K times).", valueName: "K"))
    var concurrent = 1
    @Option(help: "Datastore file (default: the standard one in the assets folder).") var datastore: String?
    @Option(help: "Concepts decoder settings JSON (any subset of ConceptRetrievalCaptioner.Config).") var conceptConfig: String?

    func validate() throws {
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1") }
        guard batchCount >= 1, minRuns >= 1, passes >= 0 else { throw ValidationError("--batch-count and --min-runs must be at least 1") }
        guard concurrent >= 1 else { throw ValidationError("--concurrent must be at least 1") }
        if concurrent > 1 && batch == nil { throw ValidationError("--concurrent needs --batch") }
    }

    func run() throws {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        let photos = try expandImageInputs(inputs.isEmpty ? [paths.sharedFile("eval/coco-dev/images").path] : inputs,
                                           recursive: false)
        let loadStart = Date()
        // With --concurrent K each worker gets its own captioner on threads / K threads.
        let workerDevice = concurrent > 1 ? Device(threads: max(1, compute.device.threads / concurrent)) : compute.device
        let captioners = try (0..<concurrent).map { _ in
            try DefaultCaptioner(paths: paths, datastore: datastore.map { URL(fileURLWithPath: $0) }, device: workerDevice, decoderKind: decoder,
                                 model: DefaultCaptioner.defaultModelURL(repositoryRoot: repositoryRootGuess()),
                                 conceptHead: DefaultCaptioner.defaultConceptHeadURL(repositoryRoot: repositoryRootGuess()),
                                 conceptConfig: try loadConceptConfig(conceptConfig))
        }
        let captioner = captioners[0]
        let loadSeconds = Date().timeIntervalSince(loadStart)
        for w in captioner.warnings { printError("warning: \(w)") }
        for p in photos.prefix(3) { _ = try captioner.describe(imageAt: URL(fileURLWithPath: p)) }
        if let batch {
            for c in captioners.dropFirst() { for p in photos.prefix(3) { _ = try c.describe(imageAt: URL(fileURLWithPath: p)) } }
            try runBatches(batch, photos: photos, captioners: captioners, loadSeconds: loadSeconds)
            return
        }
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
            ("datastore", datastore.map { URL(fileURLWithPath: $0) } ?? DefaultCaptioner.defaultDatastoreURL(paths: paths)),
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

    /// `--batch N`: timed batches of N photos, each captioned through the pipeline in turn.
    func runBatches(_ n: Int, photos: [String], captioners: [DefaultCaptioner], loadSeconds: Double) throws {
        guard !photos.isEmpty else { throw ValidationError("no photos to caption") }
        let batches = max(batchCount, (minRuns + n - 1) / n)
        let rssBefore = peakRSSBytes()
        var batchMs: [Double] = [], perPhoto: [StageTimings] = []
        var next = 0
        for _ in 0..<batches {
            let urls = (0..<n).map { i in URL(fileURLWithPath: photos[(next + i) % photos.count]) }
            next = (next + n) % photos.count
            let t = DispatchTime.now().uptimeNanoseconds
            let outputs = try captionBatch(urls, captioners: captioners)
            batchMs.append(milliseconds(since: t))
            perPhoto += outputs.map(\.timings)
        }
        guard let b = SampleStats(batchMs), let photo = SampleStats(perPhoto.map(\.total)) else { return }
        let throughput = Double(n) / (b.median / 1e3)
        let peak = peakRSSBytes()
        if json {
            let obj: [String: Any] = [
                "batch": n, "batches": batches, "threads": compute.device.threads, "decoder": decoder.rawValue,
                "concurrent": captioners.count, "threads_per_worker": captioners[0].device.threads,
                "batch_median_ms": b.median, "batch_p90_ms": b.p90, "ms_per_photo": b.median / Double(n),
                "photo_median_ms": photo.median, "photo_p90_ms": photo.p90, "photos_per_second": throughput,
                "peak_rss_bytes": peak, "peak_rss_bytes_before_batches": rssBefore, "load_seconds": loadSeconds,
                "load_average": loadAverage(),
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("default captioner (\(decoder.rawValue) decoder), batches of \(n) photos (no batched forward: each photo runs the whole pipeline), "
              + "\(batches) batches, threads \(compute.device.threads)"
              + (captioners.count > 1 ? ", \(captioners.count) concurrent workers of \(captioners[0].device.threads) thread(s)" : ""))
        print(String(format: "batch: median %.1f ms, p90 %.1f ms   per photo: %.1f ms (batch median / %d); single-photo median %.1f, p90 %.1f",
                     b.median, b.p90, b.median / Double(n), n, photo.median, photo.p90))
        print(String(format: "throughput %.2f photos/s   peak RSS %.1f MB (%.1f MB before the timed batches)   load average %@",
                     throughput, Double(peak) / 1e6, Double(rssBefore) / 1e6,
                     loadAverage().map { String(format: "%.2f", $0) }.joined(separator: " ")))
    }

    /// Captions `urls` in order with one captioner, or split round-robin over several running at once.
    func captionBatch(_ urls: [URL], captioners: [DefaultCaptioner]) throws -> [CaptionOutput] {
        if captioners.count == 1 { return try urls.map { try captioners[0].describe(imageAt: $0) } }
        let results = BatchResults(count: urls.count)
        DispatchQueue.concurrentPerform(iterations: captioners.count) { w in
            for i in stride(from: w, to: urls.count, by: captioners.count) {
                results.set(i, Result { try captioners[w].describe(imageAt: urls[i]) })
            }
        }
        return try results.values().map { try $0.get() }
    }
}

/// Per-photo results written by concurrent workers (each index by one worker), read after they finish.
final class BatchResults: @unchecked Sendable {
    private var slots: [Result<CaptionOutput, Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<CaptionOutput, Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    func values() throws -> [Result<CaptionOutput, Error>] {
        lock.lock(); defer { lock.unlock() }
        return try slots.map { guard let r = $0 else { throw ValidationError("a worker left a photo uncaptioned") }; return r }
    }
}
