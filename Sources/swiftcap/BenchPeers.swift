import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench peers`: SwiftCap and PyTorch (scripts/bench_torch_peers.py) on the same networks, same
/// thread count, runs alternated between the two, medians and SwiftCap/peer ratios.
struct BenchPeers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "SwiftCap vs PyTorch CPU on CLIP ViT-B/32, GPT-2 124M (ClipCap prefix), the concept decoder and whole ClipCap / SmallCap / BLIP captions: medians and ratios.",
        discussion: """
        Workloads (random weights at full size, except the concept decoder, which is the shipped model):
          clip-vit-b32     CLIP ViT-B/32 vision tower + projection, one 224x224 image
          gpt2-prefill     GPT-2 124M on a 10-vector prefix -> next-token logits
          gpt2-greedy      prefill + --tokens greedy tokens (KV cache, no stop token)
          gpt2-beam3       prefill + beam 3 x --tokens tokens
          decoder-prefill  models/concept-decoder.safetensors on a ~40-token caption prompt
          decoder-beam5    prefill + beam 5 x --tokens tokens (fixed work: no stop token)
          clipcap-caption  ClipCap end to end: CLIP ViT-B/32 + projection, MLP mapper (prefix 10), GPT-2 124M beam 3
          smallcap-caption SmallCap end to end: CLIP ViT-B/32 encoder states, GPT-2 124M with cross-attention at width
                           192 (factor 4), a 60-token prompt, beam 3
          blip-caption     BLIP base end to end: ViT-B/16 at 384x384, BERT-base decoder (12 heads) with cross-attention,
                           prompt "[DEC] a picture of", beam 3
        The three caption workloads are whole captions of --tokens new tokens (no stop token), built as `bench model
        --random-weights [--quant]` builds them (RandomCaptionerBench); with --quant int8 SwiftCap holds their weight
        matrices as int8 (QuantizingTensorSource, encoder included) and the peer applies torch.ao.quantization's
        quantize_dynamic (qint8) to every nn.Linear of its models (the lean GPT-2's projections and head made
        nn.Linear for it). The peer uses transformers' CLIPVisionModelWithProjection /
        CLIPVisionModel / BlipForConditionalGeneration (its generate() with min_new_tokens = max_new_tokens) and a
        lean torch GPT-2 (with SmallCap's reduced cross-attention) for the GPT-2 decoders.
        The peer runs as a child process (`--peer-python`, default $SWIFTCAP_PYTHON) that stays up; each round
        times every workload --runs-per-round times in SwiftCap, then the same in the peer, so load changes on a
        shared machine hit both sides alike. Ratio = SwiftCap median / fastest peer implementation's median.
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Python with torch and transformers (default: $SWIFTCAP_PYTHON). Without it only SwiftCap is timed.")
    var peerPython: String?
    @Option(help: "Peer script (default: scripts/bench_torch_peers.py in this repository).") var peerScript: String?
    @Option(help: "Alternation rounds.") var rounds = 5
    @Option(help: "Timed runs per workload per round on each side.") var runsPerRound = 2
    @Option(help: "Untimed warm-up runs per workload on each side.") var warmup = 2
    @Option(help: "New tokens in the generation workloads.") var tokens = 20
    @Option(help: "Comma-separated workloads (default: all).") var only: String?
    @Flag(help: "Also time transformers' own GPT-2 forward in the peer (slower than the lean torch one; shown for reference).")
    var hf = false
    @Flag(help: "Print the results as JSON.") var json = false
    @Option(help: "Weights of the caption workloads: f32, or int8 (SwiftCap: matrices held int8; PyTorch: quantize_dynamic qint8). Other workloads stay fp32 and are refused with int8.")
    var quant: QuantizeTarget = .f32

    static let workloads = ["clip-vit-b32", "gpt2-prefill", "gpt2-greedy", "gpt2-beam3", "decoder-prefill", "decoder-beam5",
                            "clipcap-caption", "smallcap-caption", "blip-caption"]
    /// The end-to-end caption workloads and the captioner each one builds.
    static let captionWorkloads: [String: CaptionerArch] = ["clipcap-caption": .clipcap, "smallcap-caption": .smallcap, "blip-caption": .blip]
    /// Peer implementations timed for each workload besides the lean torch one (with --hf).
    static let hfVariants = ["gpt2-greedy": "gpt2-greedy-hf", "gpt2-beam3": "gpt2-beam3-hf", "decoder-beam5": "decoder-beam5-hf"]

    func validate() throws {
        guard rounds >= 1, runsPerRound >= 1, warmup >= 0, tokens >= 1 else {
            throw ValidationError("--rounds, --runs-per-round and --tokens must be at least 1, --warmup at least 0")
        }
        if let only {
            for w in only.split(separator: ",") where !BenchPeers.workloads.contains(String(w)) {
                throw ValidationError("unknown workload '\(w)'; known: \(BenchPeers.workloads.joined(separator: ", "))")
            }
        }
        guard quant == .f32 || quant == .int8 else { throw ValidationError("--quant is f32 or int8 (what torch's quantize_dynamic offers)") }
        if quant != .f32, let only, only.split(separator: ",").contains(where: { BenchPeers.captionWorkloads[String($0)] == nil }) {
            throw ValidationError("--quant \(quant.rawValue) applies to the caption workloads only: \(BenchPeers.captionWorkloads.keys.sorted().joined(separator: ", "))")
        }
    }

    func run() throws {
        // A peer that dies must not take this process with it when we next write to its stdin.
        signal(SIGPIPE, SIG_IGN)
        let device = compute.device
        let selected = only.map { $0.split(separator: ",").map(String.init) }
            ?? (quant == .f32 ? BenchPeers.workloads : BenchPeers.workloads.filter { BenchPeers.captionWorkloads[$0] != nil })
        let loadBefore = loadAverage()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

        // The peer first: its ready line carries the decoder prompt both sides time.
        var peer: PeerProcess?
        var framework = "", decoderPrompt: [Int] = []
        if let python = peerPython ?? ProcessInfo.processInfo.environment["SWIFTCAP_PYTHON"], !python.isEmpty {
            let script = peerScript ?? root.appendingPathComponent("scripts/bench_torch_peers.py").path
            printError("starting peer: \(python) \(script) --threads \(device.threads) --tokens \(tokens) --quant \(quant.rawValue) --serve")
            let p = try PeerProcess(python: python, arguments: [script, "--threads", "\(device.threads)", "--tokens", "\(tokens)",
                                                                "--only", selected.joined(separator: ","), "--quant", quant.rawValue, "--serve"])
            guard case let .ready(fw, threads, _, prompt) = try PeerReply.parse(try p.readLine()) else {
                throw PeerProtocolError.unexpected("a non-ready line", "the ready line")
            }
            if threads != device.threads { printError("warning: peer runs \(threads) threads, SwiftCap \(device.threads)") }
            framework = fw
            decoderPrompt = prompt
            peer = p
        }
        defer { peer?.close() }

        let work = try SwiftPeerWorkloads(device: device, tokens: tokens, decoderPrompt: decoderPrompt,
                                          repositoryRoot: root, selected: Set(selected), quant: quant)
        if decoderPrompt.isEmpty { decoderPrompt = work.decoderPrompt }

        // Parity of the concept decoder's logits (same trained weights on both sides).
        var parity: LogitsAgreement?
        if let peer, selected.contains(where: { $0.hasPrefix("decoder") }), let mine = work.decoderLogits {
            try peer.writeLine(PeerReply.logitsRequest(decoderPrompt))
            guard case let .logits(theirs) = try PeerReply.parse(try peer.readLine()) else {
                throw PeerProtocolError.unexpected("a non-logits line", "logits")
            }
            parity = try LogitsAgreement(mine, theirs)
        }

        func peerSamples(_ name: String, _ runs: Int) throws -> [Double] {
            guard let peer else { return [] }
            try peer.writeLine(PeerReply.runRequest(name, runs: runs))
            guard case let .samples(got, ms) = try PeerReply.parse(try peer.readLine()), got == name else {
                throw PeerProtocolError.unexpected("another reply", "samples of \(name)")
            }
            return ms
        }
        var swiftMs: [String: [Double]] = [:], peerMs: [String: [Double]] = [:]
        let peerNames: (String) -> [String] = { w in [w] + (hf ? BenchPeers.hfVariants[w].map { [$0] } ?? [] : []) }
        for w in selected {
            for _ in 0..<warmup { try work.run(w) }
            for p in peerNames(w) where warmup > 0 { _ = try peerSamples(p, warmup) }
        }
        for round in 0..<rounds {
            printError("round \(round + 1)/\(rounds)")
            for w in selected {
                for _ in 0..<runsPerRound {
                    let t = DispatchTime.now().uptimeNanoseconds
                    try work.run(w)
                    swiftMs[w, default: []].append(milliseconds(since: t))
                }
                for p in peerNames(w) { peerMs[p, default: []] += try peerSamples(p, runsPerRound) }
            }
        }
        let loadAfter = loadAverage()

        let rows: [(String, SampleStats, PeerComparison?)] = selected.compactMap { w in
            guard let s = SampleStats(swiftMs[w] ?? []) else { return nil }
            let cmp = PeerComparison.best(workload: w, swift: swiftMs[w] ?? [],
                                          peers: peerNames(w).map { ($0.hasSuffix("-hf") ? "transformers" : "torch", peerMs[$0] ?? []) })
            return (w, s, cmp)
        }
        if json {
            var out: [String: Any] = [
                "threads": device.threads, "tokens": tokens, "gemm": device.gemm.name, "quant": quant.rawValue,
                "samples_per_side": rounds * runsPerRound, "load_average_before": loadBefore, "load_average_after": loadAfter,
                "peer_framework": framework, "decoder_prompt_tokens": decoderPrompt.count,
            ]
            out["rows"] = rows.map { (w, s, cmp) -> [String: Any] in
                var r: [String: Any] = ["workload": w, "swift_median_ms": s.median, "swift_p90_ms": s.p90, "swift_min_ms": s.min]
                if let cmp {
                    r["peer"] = cmp.peerImplementation
                    r["peer_median_ms"] = cmp.peer.median
                    r["peer_p90_ms"] = cmp.peer.p90
                    r["peer_min_ms"] = cmp.peer.min
                    r["ratio"] = cmp.ratio
                }
                for p in peerNames(w).dropFirst() { if let st = SampleStats(peerMs[p] ?? []) { r[p + "_median_ms"] = st.median } }
                return r
            }
            if let parity {
                out["decoder_logits_max_abs_diff"] = Double(parity.maxAbsDifference)
                out["decoder_logits_same_argmax"] = parity.sameArgmax
            }
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("SwiftCap (\(device.gemm.name)) vs \(peer == nil ? "no peer" : "PyTorch \(framework)"), \(device.threads) threads, "
              + "\(tokens) tokens, \(rounds * runsPerRound) samples per side, runs alternated, caption workloads' weights: \(quant.rawValue)")
        print("load average (1/5/15 min) before: \(loadBefore.map { String(format: "%.2f", $0) }.joined(separator: " "))   "
              + "after: \(loadAfter.map { String(format: "%.2f", $0) }.joined(separator: " "))")
        print(pad("workload", 17) + pad("swift med", 11) + pad("swift p90", 11) + pad("peer med", 10) + pad("peer p90", 10)
              + pad("peer", 13) + pad("swift/peer", 11) + "≤ 0.8×")
        for (w, s, cmp) in rows {
            var line = pad(w, 17) + pad(String(format: "%.1f", s.median), 11) + pad(String(format: "%.1f", s.p90), 11)
            if let cmp {
                line += pad(String(format: "%.1f", cmp.peer.median), 10) + pad(String(format: "%.1f", cmp.peer.p90), 10)
                    + pad(cmp.peerImplementation, 13) + pad(String(format: "%.2f", cmp.ratio), 11) + (cmp.meets() ? "yes" : "no")
            }
            print(line)
        }
        if hf {
            for (w, v) in BenchPeers.hfVariants.sorted(by: { $0.key < $1.key }) where selected.contains(w) {
                if let st = SampleStats(peerMs[v] ?? []) { print("transformers GPT-2 forward, \(w): median \(String(format: "%.1f", st.median)) ms") }
            }
        }
        if let parity {
            print(String(format: "concept decoder logits, SwiftCap vs torch on the %d-token prompt: max |diff| %.2e, same arg-max: %@",
                         decoderPrompt.count, Double(parity.maxAbsDifference), parity.sameArgmax ? "yes" : "no"))
        }
        print("all times in ms")
    }
}

/// /proc/loadavg's three figures (empty where unavailable).
func loadAverage() -> [Double] {
    guard let s = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
    return s.split(separator: " ").prefix(3).compactMap { Double($0) }
}

/// SwiftCap's side of the peer workloads (the same shapes and work as scripts/bench_torch_peers.py).
struct SwiftPeerWorkloads {
    let device: Device
    let tokens: Int
    var clip: CLIPVisionTransformer?
    var gpt2: GPT2?
    var decoder: ConceptDecoder?
    /// The end-to-end captioners of the caption workloads, by workload name.
    var captioners: [String: RandomCaptionerBench] = [:]
    let pixels = Tensor(repeating: 0.1, shape: [1, 3, 224, 224])
    let prefix: Tensor
    let decoderPrompt: [Int]
    /// The decoder's next-token logits after `decoderPrompt` (for the parity check).
    var decoderLogits: [Float]?

    /// The prompt the peer script uses when it does not send its own (same text, tokenized here).
    static let examplePrompt = "[dog] [person] <x2> [frisbee] <sep> a man throwing a frisbee to a dog in a park <sep> "
        + "two people playing with a dog on the grass <sep> a dog jumping to catch a frisbee in a field <sep> <bos>"

    init(device: Device, tokens: Int, decoderPrompt: [Int], repositoryRoot: URL, selected: Set<String>, quant: QuantizeTarget = .f32) throws {
        self.device = device
        self.tokens = tokens
        var ck = RandomCheckpoint(seed: 42)
        var rng = SplitMix64(seed: 7)
        prefix = Tensor((0..<(10 * 768)).map { _ in (rng.nextFloat() * 2 - 1) * 0.1 }, shape: [1, 10, 768])
        if selected.contains("clip-vit-b32") {
            let vision = CLIPVisionConfig.vitB32
            ck.clipVision("vision_model", vision)
            ck.random("visual_projection.weight", [512, vision.hiddenSize])
            clip = try CLIPVisionTransformer(huggingFace: Weights(ck.source(description: "random CLIP")),
                                             config: vision, projectionDim: 512, device: device)
            ck = RandomCheckpoint(seed: 42)
        }
        if selected.contains(where: { $0.hasPrefix("gpt2") }) {
            ck.gpt2("gpt", GPT2Config())
            gpt2 = try GPT2(config: GPT2Config(), weights: Weights(ck.source(description: "random GPT-2")).pp("gpt"))
            ck = RandomCheckpoint(seed: 42)
        }
        var prompt = decoderPrompt
        if selected.contains(where: { $0.hasPrefix("decoder") }) {
            guard let url = DefaultCaptioner.defaultModelURL(repositoryRoot: repositoryRoot) else {
                throw ValidationError("no repository root to find models/concept-decoder.safetensors")
            }
            let d = try ConceptDecoder(url: url)
            if prompt.isEmpty { prompt = SwiftPeerWorkloads.tokenize(SwiftPeerWorkloads.examplePrompt, decoder: d) }
            decoder = d
            decoderLogits = try d.prefill(prompt, device: device).1.scalars
        }
        self.decoderPrompt = prompt
        for (w, arch) in BenchPeers.captionWorkloads where selected.contains(w) {
            captioners[w] = try RandomCaptionerBench(arch: arch, quant: quant, minElements: 4096, tokens: tokens, beams: 3, device: device)
        }
    }

    /// Space-separated tokens; "[multi word]" concept tokens kept whole; unknown ones become <unk>.
    static func tokenize(_ text: String, decoder: ConceptDecoder) -> [Int] {
        var out: [Int] = [], pending: [Substring] = []
        for w in text.split(separator: " ") {
            if !pending.isEmpty || (w.hasPrefix("[") && !w.hasSuffix("]")) {
                pending.append(w)
                if w.hasSuffix("]") { out.append(decoder.id(of: pending.joined(separator: " ")) ?? ConceptDecoder.unk); pending = [] }
                continue
            }
            out.append(decoder.id(of: String(w)) ?? ConceptDecoder.unk)
        }
        return out
    }

    func run(_ workload: String) throws {
        let gen = { (beams: Int) in GenerationConfig(maxNewTokens: tokens, stopTokens: [], numBeams: beams) }
        switch workload {
        case "clip-vit-b32":
            guard let clip else { return }
            _ = try clip.forward(pixels: pixels, device: device).imageEmbeds
        case "gpt2-prefill", "gpt2-greedy", "gpt2-beam3":
            guard let gpt2 else { return }
            var cache = gpt2.makeCache()
            let hidden = try gpt2.hiddenStates(embeddings: prefix, cache: &cache, device: device)
            let first = try gpt2.lastLogits(hidden, device: device)
            if workload == "gpt2-prefill" { return }
            _ = try Generator.generate(gpt2, state: cache, firstLogits: first, prompts: [[]],
                                       config: gen(workload == "gpt2-greedy" ? 1 : 3), device: device)
        case "decoder-prefill", "decoder-beam5":
            guard let decoder else { return }
            let (cache, first) = try decoder.prefill(decoderPrompt, device: device)
            if workload == "decoder-prefill" { return }
            _ = try Generator.generate(decoder.model, state: cache, firstLogits: first, prompts: [decoderPrompt],
                                       config: gen(5), device: device)
        case "clipcap-caption", "smallcap-caption", "blip-caption":
            guard let c = captioners[workload] else { return }
            let ids = try c.caption()
            guard ids.first?.count == tokens else {
                throw ValidationError("\(workload): \(ids.first?.count ?? 0) tokens produced, expected \(tokens)")
            }
        default:
            throw ValidationError("unknown workload \(workload)")
        }
    }
}

/// A child process spoken to in lines of text (stdin / stdout); its stderr goes to ours.
final class PeerProcess {
    let process = Process()
    private let input = Pipe(), output = Pipe()
    private var buffer = Data()

    init(python: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    func writeLine(_ line: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// The next line without its newline; throws when the peer closed its output first.
    func readLine() throws -> String {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                throw PeerProtocolError.malformed(String(decoding: buffer, as: UTF8.self),
                                                  "peer exited before finishing a line (status \(process.isRunning ? "running" : "\(process.terminationStatus)"))")
            }
            buffer.append(chunk)
        }
    }

    func close() {
        guard process.isRunning else { return }
        try? writeLine("{\"quit\": true}")
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
