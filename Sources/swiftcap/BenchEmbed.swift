import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench embed`: milliseconds per caption embedding (all-MiniLM-L6-v2, one caption per call,
/// as at caption time) on COCO val captions; the sentence-transformers figure comes from
/// scripts/bench_minilm_peer.py on the same captions.
struct BenchEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "ms per caption of the MiniLM sentence embedder (median), one caption per call.")

    @Option(help: "Number of COCO val2014 captions (file order).") var sentences = 200
    @Option(help: "Thread counts to measure, comma-separated.") var threads = "1,2"
    @Option(help: "Model folder (default: the minilm asset).") var model: String?

    func run() throws {
        let paths = AssetPaths.fromEnvironment()
        let dir = model.map { URL(fileURLWithPath: $0) } ?? paths.asset("minilm")
        let texts = try loadCOCOCaptions(paths.asset("coco-captions/captions_val2014.json"), limit: sentences)
        let counts = threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !texts.isEmpty, !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("need at least one caption and thread counts >= 1")
        }
        let embedder = try SentenceEmbedder(directory: dir)
        let tokens = texts.map { embedder.tokenize($0).count }.sorted()
        print("captions: \(texts.count) COCO val2014 (tokens median \(tokens[tokens.count / 2]), max \(tokens.last!)); one caption per call")
        for t in counts {
            let device = Device(threads: t)
            for text in texts.prefix(20) { _ = try embedder.embed(text, device: device) }   // warm-up
            var ms: [Double] = []
            for text in texts {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try embedder.embed(text, device: device)
                ms.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            ms.sort()
            print(String(format: "threads %d: median %.2f ms, p90 %.2f ms, mean %.2f ms per caption", t, ms[ms.count / 2],
                         ms[ms.count * 9 / 10], ms.reduce(0, +) / Double(ms.count)))
        }
    }
}
