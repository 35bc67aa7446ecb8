import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench tokenizers`: sentences per second for each tokenizer on COCO val captions,
/// beside the reference Python implementations (scripts/bench_tokenizers_peer.py) when available.
struct BenchTokenizers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizers",
        abstract: "Sentences/second of the GPT-2, CLIP and WordPiece tokenizers (encode, one thread).")

    @Option(help: "Timed passes over the sentences (median reported).") var runs = 5
    @Option(help: "Number of COCO val2014 captions to encode (file order).") var sentences = 10_000
    @Option(help: "Python used for the peer figures (empty: skip them).") var python = ProcessInfo.processInfo.environment["SWIFTCAP_PYTHON"]
        ?? (FileManager.default.fileExists(atPath: "/work/venv/bin/python") ? "/work/venv/bin/python" : "python3")

    func run() throws {
        guard runs >= 1, sentences >= 1 else { throw ValidationError("--runs and --sentences must be at least 1") }
        let paths = AssetPaths.fromEnvironment()
        let texts = try loadCaptions(paths.asset("coco-captions/captions_val2014.json"))
        print("sentences: \(texts.count) COCO val2014 captions, \(runs) runs, median; encode only, one thread")
        let gpt2 = try GPT2Tokenizer(vocabJSON: paths.asset("gpt2/gpt2_vocab.json"), mergesTXT: paths.asset("gpt2/gpt2_merges.txt"))
        let clip = try CLIPTokenizer(bpeGzip: paths.asset("clip/bpe_simple_vocab_16e6.txt.gz"))
        let bert = try WordPieceTokenizer(vocabTXT: paths.asset("minilm/vocab.txt"))
        var ours: [(String, (String) -> [Int])] = [("gpt2", gpt2.encode), ("clip", clip.encode), ("bert", bert.encode)]
        let ggufURL = paths.asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        if FileManager.default.fileExists(atPath: ggufURL.path) {
            let g = try GGUFFile(url: ggufURL)
            let v = try GGUFVocabulary(source: ggufURL.path, string: { g.value($0)?.stringValue },
                                       strings: { g.value($0)?.arrayValue?.compactMap(\.stringValue) },
                                       ints: { g.value($0)?.arrayValue?.compactMap(\.intValue) })
            let smol = try GPT2Tokenizer(gguf: v, source: ggufURL.path)
            ours.append(("smollm2", smol.encode))
        }
        var peer: [String: String] = [:]
        if !python.isEmpty { peer = runPeer(texts) }
        print(pad("tokenizer", 11) + pad("swiftcap sent/s", 18) + "peer sent/s")
        for (name, encode) in ours {
            let rate = measure(texts, encode)
            print(pad(name, 11) + pad(String(format: "%.0f", rate), 18) + (peer[name] ?? "-"))
        }
    }

    func loadCaptions(_ url: URL) throws -> [String] { try loadCOCOCaptions(url, limit: sentences) }

    func measure(_ texts: [String], _ encode: (String) -> [Int]) -> Double {
        var sink = 0
        for t in texts.prefix(100) { sink &+= encode(t).count }
        var samples: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for t in texts { sink &+= encode(t).count }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        if sink == -1 { print("") } // keep the work observable
        samples.sort()
        return Double(texts.count) / samples[samples.count / 2]
    }

    /// Runs scripts/bench_tokenizers_peer.py on the same sentences; name -> "rate (impl)".
    func runPeer(_ texts: [String]) -> [String: String] {
        // The script beside the sources this binary was built from, else under the working directory.
        var script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/bench_tokenizers_peer.py")
        if !FileManager.default.fileExists(atPath: script.path) {
            script = URL(fileURLWithPath: "scripts/bench_tokenizers_peer.py")
        }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-bench-\(ProcessInfo.processInfo.processIdentifier).json")
        defer { try? FileManager.default.removeItem(at: input) }
        var result: [String: String] = [:]
        do {
            try JSONSerialization.data(withJSONObject: texts).write(to: input)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [python, script.path, "--sentences", input.path, "--runs", "\(runs)"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let name = o["tokenizer"] as? String else { continue }
                let impl = o["impl"] as? String ?? "?"
                if let r = (o["sentences_per_s"] as? NSNumber)?.doubleValue {
                    result[name] = String(format: "%.0f", r) + " (\(impl))"
                } else {
                    result[name] = "error: \(o["error"] as? String ?? "?")"
                }
            }
            if result.isEmpty { printError("peer: \(script.path) gave no figures (exit \(p.terminationStatus)); Python tokenizers missing?") }
        } catch {
            printError("peer: could not run \(python) \(script.path): \(error)")
        }
        return result
    }
}

/// The first `limit` captions of a COCO captions file (`annotations[].caption`, file order).
func loadCOCOCaptions(_ url: URL, limit: Int) throws -> [String] {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw ValidationError("cannot read \(url.path) (run scripts/fetch-assets.sh): \(error.localizedDescription)")
    }
    guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let anns = root["annotations"] as? [[String: Any]] else {
        throw ValidationError("\(url.path): no \"annotations\" array")
    }
    return Array(anns.compactMap { $0["caption"] as? String }.prefix(limit))
}
