import ArgumentParser
import Foundation
import SwiftCap

/// The captioners `bench model`, `caption --arch` and `serve --arch` know (SwiftCapPipelines' `CaptionerArch`).
extension CaptionerArch: ExpressibleByArgument {}

/// Random tensors under the published checkpoint names, so a model can be built at full size without files.
/// Matrices are uniform in ±scale, LayerNorm weights 1, biases 0.
///
/// Only names, shapes and fills are recorded; `source` generates each tensor when a model loads it (from a
/// seed derived from the checkpoint seed and the name, so a tied tensor loaded twice is the same), so a
/// model quantized in memory never has the whole fp32 checkpoint resident at once.
struct RandomCheckpoint {
    enum Fill { case random, constant(Float) }
    var specs: [String: (shape: [Int], fill: Fill)] = [:]
    let seed: UInt64
    var scale: Float = 0.02

    init(seed: UInt64) { self.seed = seed }

    /// Names that alias another entry's tensor (tied weights), not counted in `bytes`; alias -> target.
    var aliasTargets: [String: String] = [:]
    var aliases: Set<String> { Set(aliasTargets.keys) }

    /// fp32 bytes of the distinct tensors.
    var bytes: Int { specs.values.reduce(0) { $0 + $1.shape.reduce(1, *) * 4 } }
    /// Distinct tensors plus aliases.
    var count: Int { specs.count + aliasTargets.count }

    mutating func random(_ name: String, _ shape: [Int]) { specs[name] = (shape, .random) }

    mutating func constant(_ name: String, _ shape: [Int], _ value: Float) { specs[name] = (shape, .constant(value)) }

    mutating func alias(_ name: String, to target: String) { aliasTargets[name] = target }

    /// The tensor `name` (generated now).
    func make(_ name: String) -> Tensor? {
        guard let spec = specs[aliasTargets[name] ?? name] else { return nil }
        switch spec.fill {
        case .constant(let v): return Tensor(repeating: v, shape: spec.shape)
        case .random:
            // FNV-1a of the (alias-resolved) name, mixed into the checkpoint seed.
            var h: UInt64 = 0xcbf29ce484222325
            for b in (aliasTargets[name] ?? name).utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            var rng = SplitMix64(seed: seed ^ h)
            let n = spec.shape.reduce(1, *)
            let t = Tensor(zeros: spec.shape)  // filled in place: no second fp32 copy while loading
            let p = t.contiguousPointer
            for i in 0..<n { p[i] = (rng.nextFloat() * 2 - 1) * scale }
            return t
        }
    }

    /// Every tensor materialised (what a file writer needs).
    var tensors: [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in specs.keys { out[name] = make(name) }
        for (a, t) in aliasTargets { out[a] = out[t] }
        return out
    }

    /// A tensor source generating each tensor when loaded.
    func source(description: String) -> LazyRandomTensors { LazyRandomTensors(checkpoint: self, sourceDescription: description) }

    mutating func linear(_ name: String, out: Int, in inF: Int, bias: Bool = true) {
        random(name + ".weight", [out, inF])
        if bias { constant(name + ".bias", [out], 0) }
    }

    /// GPT-2 Conv1D: weight [in, out].
    mutating func conv1D(_ name: String, in inF: Int, out: Int) {
        random(name + ".weight", [inF, out])
        constant(name + ".bias", [out], 0)
    }

    mutating func layerNorm(_ name: String, _ d: Int) {
        constant(name + ".weight", [d], 1)
        constant(name + ".bias", [d], 0)
    }

    /// GPT2LMHeadModel under `p` (`p.transformer.…`, `p.lm_head.weight`); cross-attention at width d/factor when given.
    mutating func gpt2(_ p: String, _ c: GPT2Config, crossFactor: Int? = nil, encoderWidth: Int = 768) {
        let d = c.nEmbd, t = p + ".transformer"
        random(t + ".wte.weight", [c.vocabSize, d])
        random(t + ".wpe.weight", [c.nPositions, d])
        for i in 0..<c.nLayer {
            let h = "\(t).h.\(i)"
            layerNorm(h + ".ln_1", d)
            conv1D(h + ".attn.c_attn", in: d, out: 3 * d)
            conv1D(h + ".attn.c_proj", in: d, out: d)
            layerNorm(h + ".ln_2", d)
            conv1D(h + ".mlp.c_fc", in: d, out: c.innerDim)
            conv1D(h + ".mlp.c_proj", in: c.innerDim, out: d)
            if let f = crossFactor {
                layerNorm(h + ".ln_cross_attn", d)
                conv1D(h + ".crossattention.q_attn", in: d, out: d / f)
                conv1D(h + ".crossattention.c_attn", in: encoderWidth, out: 2 * d / f)
                conv1D(h + ".crossattention.c_proj", in: d / f, out: d)
            }
        }
        layerNorm(t + ".ln_f", d)
        alias(p + ".lm_head.weight", to: t + ".wte.weight")
    }

    /// Hugging Face CLIP vision transformer keys directly under `v`.
    mutating func clipVision(_ v: String, _ c: CLIPVisionConfig) {
        let d = c.hiddenSize
        random(v + ".embeddings.patch_embedding.weight", [d, 3, c.patchSize, c.patchSize])
        random(v + ".embeddings.class_embedding", [d])
        random(v + ".embeddings.position_embedding.weight", [c.tokens, d])
        layerNorm(v + ".pre_layrnorm", d)
        for i in 0..<c.numHiddenLayers {
            let l = "\(v).encoder.layers.\(i)"
            layerNorm(l + ".layer_norm1", d)
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"] { linear("\(l).self_attn.\(n)", out: d, in: d) }
            layerNorm(l + ".layer_norm2", d)
            linear(l + ".mlp.fc1", out: c.intermediateSize, in: d)
            linear(l + ".mlp.fc2", out: d, in: c.intermediateSize)
        }
        layerNorm(v + ".post_layernorm", d)
    }

    mutating func blip(_ c: BLIPConfig) {
        let v = c.vision, d = v.hiddenSize
        random("vision_model.embeddings.patch_embedding.weight", [d, 3, v.patchSize, v.patchSize])
        constant("vision_model.embeddings.patch_embedding.bias", [d], 0)
        random("vision_model.embeddings.class_embedding", [1, 1, d])
        random("vision_model.embeddings.position_embedding", [1, v.tokens, d])
        for i in 0..<v.numHiddenLayers {
            let l = "vision_model.encoder.layers.\(i)"
            layerNorm(l + ".layer_norm1", d)
            linear(l + ".self_attn.qkv", out: 3 * d, in: d)
            linear(l + ".self_attn.projection", out: d, in: d)
            layerNorm(l + ".layer_norm2", d)
            linear(l + ".mlp.fc1", out: v.intermediateSize, in: d)
            linear(l + ".mlp.fc2", out: d, in: v.intermediateSize)
        }
        layerNorm("vision_model.post_layernorm", d)
        let t = c.text, w = t.hiddenSize, b = "text_decoder.bert"
        random(b + ".embeddings.word_embeddings.weight", [t.vocabSize, w])
        random(b + ".embeddings.position_embeddings.weight", [t.maxPositionEmbeddings, w])
        layerNorm(b + ".embeddings.LayerNorm", w)
        for i in 0..<t.numHiddenLayers {
            let l = "\(b).encoder.layer.\(i)"
            for (block, kw) in [("attention", w), ("crossattention", t.encoderHiddenSize)] {
                linear("\(l).\(block).self.query", out: w, in: w)
                linear("\(l).\(block).self.key", out: w, in: kw)
                linear("\(l).\(block).self.value", out: w, in: kw)
                linear("\(l).\(block).output.dense", out: w, in: w)
                layerNorm("\(l).\(block).output.LayerNorm", w)
            }
            linear(l + ".intermediate.dense", out: t.intermediateSize, in: w)
            linear(l + ".output.dense", out: w, in: t.intermediateSize)
            layerNorm(l + ".output.LayerNorm", w)
        }
        linear("text_decoder.cls.predictions.transform.dense", out: w, in: w)
        layerNorm("text_decoder.cls.predictions.transform.LayerNorm", w)
        constant("text_decoder.cls.predictions.bias", [t.vocabSize], 0)
    }
}

/// Peak resident set size of this process in bytes (getrusage; Linux reports KiB).
func peakRSSBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    // VmHWM (what resetPeakRSS resets); getrusage's maxrss when /proc is unreadable.
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
        return kb * 1024
    }
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
}

/// Resident set size now (Linux /proc/self/statm; 0 elsewhere).
func currentRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0: "5" to /proc/self/clear_refs), so a later
/// `peakRSSBytes` reads the peak since now. False when the kernel refuses.
func resetPeakRSS() -> Bool {
    guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
    defer { try? h.close() }
    do { try h.write(contentsOf: Data("5".utf8)) } catch { return false }
    return true
}

func milliseconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 }

/// One untimed decoder step on a copy of `initial` (paying any copy-on-write), then 5 timed ones: each step's ms.
func timeSteps<S>(_ initial: S, beams: Int, _ body: (inout S, [Int]) throws -> Void) throws -> [Double] {
    var state = initial
    let tokens = Array(repeating: 2003, count: beams)
    try body(&state, tokens)
    var out: [Double] = []
    for _ in 0..<5 {
        let t = DispatchTime.now().uptimeNanoseconds
        try body(&state, tokens)
        out.append(milliseconds(since: t))
    }
    return out
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Times a published captioner at full size (encoder, per-token decoder step, a 20-token beam-3 caption).")

    @OptionGroup var compute: ComputeOptions
    @Option(help: "clipcap | smallcap | blip (with --model: overrides the guessed architecture)") var arch: CaptionerArch?
    @Flag(help: "Build the model from random weights under the published tensor names (no files needed).")
    var randomWeights = false
    @Option(help: "Time a hub model ORG/NAME[@REVISION] from its real files (fetched into the hub cache, or used from it offline): the load, then whole captions of --image.")
    var model: String?
    @Option(help: "With --model: the photo captioned in the timed runs.") var image: String?
    @Option(help: "Timed repetitions (medians reported).") var runs = 3
    @Option(help: "New tokens in the timed caption.") var tokens = 20
    @Option(help: "Beam width of the timed caption.") var beams = 3
    @Option(help: "Hold the weight matrices as f32, f16, int8 or q4 in memory (encoder included); the quality cost against fp32 is printed after the timings.")
    var quant: QuantizeTarget = .f32
    @Option(help: "Rank-2 tensors with at least this many elements count as weight matrices for --quant.") var minElements = 4096
    @Flag(help: "With --quant: skip the comparison with fp32 (which builds the model twice more).") var noCompare = false

    func validate() throws {
        if model != nil {
            if randomWeights { throw ValidationError("--model times the real files; drop --random-weights") }
            guard image != nil else { throw ValidationError("--model needs --image PHOTO (the photo captioned in the timed runs)") }
        } else {
            guard randomWeights else { throw ValidationError("pass --random-weights (random weights under the published names) or --model ORG/NAME (the real files)") }
            guard arch != nil else { throw ValidationError("--random-weights needs --arch clipcap | smallcap | blip") }
        }
        guard runs >= 1, tokens >= 1, beams >= 1 else { throw ValidationError("--runs, --tokens and --beams must be at least 1") }
    }

    /// `--model`: the real files from the hub cache; times the load and whole captions (decode, preprocess,
    /// encoder, beam search) of one photo.
    func runHubModel(_ spec: String, image: String) throws {
        let options = PublishedCaptionerOptions(beams: beams, maxTokens: tokens, threads: compute.threads, quant: quant)
        let hub = try resolveHubCaptioner(spec, arch: arch, options: options)
        let device = compute.device
        print("model: \(spec)   arch: \(hub.arch.rawValue)   files: \(hub.weights.path)   backend: \(device.gemm.name)   threads: \(device.threads)")
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let captioner = try PublishedCaptioner(arch: hub.arch, weights: hub.weights, options: hub.options, name: spec)
        print(pad("load (ms)", 34) + String(format: "%.0f", milliseconds(since: loadStart)))
        let url = URL(fileURLWithPath: image)
        var ms: [Double] = []
        var text = ""
        for _ in 0..<runs {
            let t = DispatchTime.now().uptimeNanoseconds
            text = try captioner.caption(imageAt: url).caption
            ms.append(milliseconds(since: t))
        }
        print(pad("caption: ≤\(tokens) tokens, beam \(beams) (ms)", 34) + String(format: "%.1f", median(ms)) + "   \"\(text)\"")
        print(pad("peak RSS (MB)", 34) + String(format: "%.0f", Double(peakRSSBytes()) / 1e6))
        print("medians of \(runs) runs (whole caption: decode, preprocess, encoder, beam search)")
    }

    func run() throws {
        if let model, let image { return try runHubModel(model, image: image) }
        guard let arch else { throw ValidationError("--random-weights needs --arch clipcap | smallcap | blip") }
        let device = compute.device
        print("arch: \(arch.rawValue)   backend: \(device.gemm.name)   threads: \(device.threads)   OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        var produced: [Int] = []
        var traceQ: (tokens: [Int], logits: [[Float]]) = ([], [])
        do {
            let buildStart = DispatchTime.now().uptimeNanoseconds
            let b = try RandomCaptionerBench(arch: arch, quant: quant, minElements: minElements, tokens: tokens, beams: beams, device: device)
            let buildMs = milliseconds(since: buildStart)
            let loadPeak = peakRSSBytes()
            // Memory freed while loading (fp32 tensors quantized and dropped) goes back to the OS: glibc keeps
            // freed heap pages resident otherwise, which would count against the model's RSS.
            releaseFreedHeapMemory()
            let afterLoad = currentRSSBytes()
            // The inference peak below is measured from here (VmHWM reset), so it excludes the load's transients.
            let reset = resetPeakRSS()
            print(b.description)
            print(String(format: "weights: %.1f MB fp32 (%d tensors, tied ones once); held as %@: %.1f MB (%d matrices, %.1f M parameters %@)   build incl. random fill: %.0f ms",
                         Double(b.fp32Bytes) / 1e6, b.tensorCount, quant.rawValue, Double(b.memoryBytes) / 1e6,
                         b.quantized.matrices, Double(b.quantized.elements) / 1e6, quant == .f32 ? "quantized" : quant.rawValue, buildMs))
            var encodeMs: [Double] = [], stepMs: [Double] = [], totalMs: [Double] = []
            for _ in 0..<runs {
                var t = DispatchTime.now().uptimeNanoseconds
                try b.encode()
                encodeMs.append(milliseconds(since: t))
                stepMs += try b.steps()
                t = DispatchTime.now().uptimeNanoseconds
                produced = try b.caption().first ?? []
                totalMs.append(milliseconds(since: t))
            }
            let rss = peakRSSBytes()
            print(pad("RSS after load (MB)", 34) + String(format: "%.0f   (peak while loading %.0f)", Double(afterLoad) / 1e6, Double(loadPeak) / 1e6))
            print(pad("encoder (ms)", 34) + String(format: "%.1f", median(encodeMs)))
            print(pad("decoder step, \(beams) beams (ms/token)", 34) + String(format: "%.1f", median(stepMs)))
            print(pad("caption: \(tokens) tokens, beam \(beams) (ms)", 34) + String(format: "%.1f", median(totalMs)) + "   (\(produced.count) tokens produced)")
            print(pad(reset ? "peak RSS while captioning (MB)" : "peak RSS (MB)", 34) + String(format: "%.0f", Double(rss) / 1e6))
            print("medians of \(runs) runs (decoder step: \(runs * 5) samples)")
            // The floor under a decode step: every weight matrix of the decoder is streamed from memory once.
            print(pad("memory read bandwidth (GB/s)", 34) + String(format: "%.1f", device.measureReadBandwidth())
                  + "   (\(device.threads) threads, 256 MiB; a step is ≥ its decoder's weight bytes / this)")
            guard quant != .f32, !noCompare else { return }
            traceQ = try b.trace(nil)
        }
        // Quality cost: the same random weights at fp32, built after the timings and the RSS reading above.
        let reference = try RandomCaptionerBench(arch: arch, quant: .f32, minElements: minElements, tokens: tokens, beams: beams, device: device)
        let traceF = try reference.trace(nil)
        let beamF = try reference.caption().first ?? []
        // The quantized model replays the fp32 greedy tokens (teacher forcing) so every position has the same context.
        let forced = try RandomCaptionerBench(arch: arch, quant: quant, minElements: minElements, tokens: tokens, beams: beams, device: device)
            .trace(traceF.tokens)
        var maxErr: Float = 0, maxRef: Float = 0, agree = 0
        for (rowF, rowQ) in zip(traceF.logits, forced.logits) {
            for (x, y) in zip(rowF, rowQ) { maxErr = max(maxErr, abs(x - y)); maxRef = max(maxRef, abs(x)) }
            if argmaxIndex(rowF) == argmaxIndex(rowQ) { agree += 1 }
        }
        print("vs fp32 (same random weights and image; \(traceF.logits.count) positions teacher-forced on the fp32 greedy tokens):")
        print(pad("  max |logit error|", 34) + String(format: "%.4g   (max |logit| %.4g)", maxErr, maxRef))
        print(pad("  top-1 agreement", 34) + "\(agree)/\(traceF.logits.count)")
        let firstDiff = zip(traceQ.tokens, traceF.tokens).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        print(pad("  greedy tokens identical", 34) + (traceQ.tokens == traceF.tokens ? "yes" : "no (first difference at token \(firstDiff ?? 0))"))
        print(pad("  beam-\(beams) tokens identical", 34) + (produced == beamF ? "yes" : "no"))
    }
}

extension QuantizeTarget: ExpressibleByArgument {}

/// A published captioner at full size with random weights (`RandomCheckpoint`, generated as loaded), optionally
/// held quantized in memory (`QuantizingTensorSource`), with the closures `bench model` and `bench peers` time.
struct RandomCaptionerBench {
    var description = ""
    var fp32Bytes = 0
    var tensorCount = 0
    /// Bytes of the model's weights as held (quantized matrices + fp32 rest).
    var memoryBytes = 0
    var quantized: (matrices: Int, elements: Int) = (0, 0)
    /// image -> decoder input.
    var encode: () throws -> Void = {}
    /// 5 timed decoder steps for `beams` rows after one untimed one: each step's ms.
    var steps: () throws -> [Double] = { [] }
    /// The whole caption (encoder + prompt + beam search), token ids per image.
    var caption: () throws -> [[Int]] = { [] }
    /// Greedy decoding of `tokens` steps (or replaying `forcing`): the tokens and each position's logits.
    var trace: ([Int]?) throws -> (tokens: [Int], logits: [[Float]]) = { _ in ([], []) }

    init(arch: CaptionerArch, quant: QuantizeTarget, minElements: Int, tokens: Int, beams: Int, device: Device) throws {
        var ck = RandomCheckpoint(seed: 42)
        let gen = GenerationConfig(maxNewTokens: tokens, stopTokens: [], numBeams: beams)
        // A fixed, non-constant image so the encoder's activations vary across patches.
        func pixels(_ size: Int) -> Tensor {
            var rng = SplitMix64(seed: 11)
            return Tensor((0..<(3 * size * size)).map { _ in rng.nextFloat() * 2 - 1 }, shape: [1, 3, size, size])
        }
        func wrap(_ d: String) -> (QuantizingTensorSource, Weights) {
            let q = QuantizingTensorSource(ck.source(description: d), to: quant, minElements: minElements, device: device)
            return (q, Weights(q))
        }
        func traceDecoder<D: CausalDecoder>(_ d: D, state: D.State, first: Tensor, forcing: [Int]?) throws -> (tokens: [Int], logits: [[Float]]) {
            var state = state
            var logits = [first.scalars]
            var out: [Int] = []
            for i in 0..<tokens {
                let next = forcing.map { $0[i] } ?? argmaxIndex(logits[i])
                out.append(next)
                if i + 1 == tokens { break }
                logits.append(try d.nextLogits(tokens: [next], state: &state, device: device).scalars)
            }
            return (out, logits)
        }
        let source: QuantizingTensorSource
        switch arch {
        case .clipcap:
            let vision = CLIPVisionConfig.vitB32
            ck.clipVision("vision_model", vision)
            ck.random("visual_projection.weight", [512, vision.hiddenSize])
            ck.gpt2("gpt", GPT2Config())
            ck.linear("clip_project.model.0", out: 768 * 10 / 2, in: 512)
            ck.linear("clip_project.model.2", out: 768 * 10, in: 768 * 10 / 2)
            let (q, w) = wrap("random ClipCap")
            source = q
            let clip = try CLIPVisionTransformer(huggingFace: w, config: vision, projectionDim: 512, device: device)
            let model = try ClipCap(weights: w, device: device)
            let px = pixels(224)
            description = "CLIP ViT-B/32 (HF) + MLP mapper (prefix \(model.prefixLength)) + GPT-2 124M"
            func embed() throws -> Tensor { try clip.forward(pixels: px, device: device).imageEmbeds ?? Tensor(zeros: [1, 512]) }
            encode = { _ = try model.prefix(clipEmbedding: embed(), device: device) }
            let (_, cache) = try model.prefixHiddenStates(clipEmbedding: embed(), device: device)
            var beamCache = cache
            try beamCache.reorder(batch: Array(repeating: 0, count: beams), device: device)
            let stepCache = beamCache
            steps = { try timeSteps(stepCache, beams: beams) { c, t in _ = try model.gpt.nextLogits(tokens: t, state: &c, device: device) } }
            caption = { try model.generate(clipEmbedding: embed(), config: gen, device: device) }
            trace = { forcing in
                let (hidden, cache) = try model.prefixHiddenStates(clipEmbedding: embed(), device: device)
                return try traceDecoder(model.gpt, state: cache, first: model.gpt.lastLogits(hidden, device: device), forcing: forcing)
            }
        case .smallcap:
            let config = SmallCapConfig.published(reduceFactor: 4)
            ck.clipVision("encoder", config.vision)
            ck.gpt2("decoder", config.decoder, crossFactor: config.crossAttentionReduceFactor, encoderWidth: config.encoderHiddenSize)
            let (q, w) = wrap("random SmallCap")
            source = q
            let model = try SmallCap(config: config, weights: w, device: device)
            let px = pixels(224)
            // A retrieval prompt of typical length: 4 captions of ~11 tokens plus the template (~60 tokens).
            let prompt = (0..<60).map { 100 + ($0 * 37) % 5000 }
            description = "CLIP ViT-B/32 encoder + GPT-2 124M with cross-attention (factor 4), prompt \(prompt.count) tokens"
            encode = { _ = try model.encode(pixels: px, device: device) }
            let enc = try model.encode(pixels: px, device: device)
            var state = try model.makeState(encoderStates: enc, device: device)
            _ = try model.hiddenStates(ids: [prompt], state: &state, device: device)
            try model.reorderState(&state, rows: Array(repeating: 0, count: beams), device: device)
            let stepState = state
            steps = { try timeSteps(stepState, beams: beams) { s, t in _ = try model.nextLogits(tokens: t, state: &s, device: device) } }
            caption = { try model.generate(encoderStates: model.encode(pixels: px, device: device), prompts: [prompt], config: gen, device: device) }
            trace = { forcing in
                var state = try model.makeState(encoderStates: model.encode(pixels: px, device: device), device: device)
                let hidden = try model.hiddenStates(ids: [prompt], state: &state, device: device)
                return try traceDecoder(model, state: state, first: model.decoder.lastLogits(hidden, device: device), forcing: forcing)
            }
        case .blip:
            let config = BLIPConfig.publishedBase
            ck.blip(config)
            let (q, w) = wrap("random BLIP")
            source = q
            let model = try BLIP(config: config, weights: w)
            let px = pixels(384)
            let prompt = [30522, 1037, 3861, 1997]  // [DEC] a picture of
            description = "BLIP base: ViT-B/16 at 384² + BERT-base decoder (12 heads), prompt \"a picture of\""
            encode = { _ = try model.vision.forward(pixels: px, device: device) }
            let image = try model.vision.forward(pixels: px, device: device)
            var state = try model.text.makeState(imageEmbeds: image, device: device)
            _ = try model.text.hiddenStates(ids: [prompt], state: &state, device: device)
            try model.text.reorderState(&state, rows: Array(repeating: 0, count: beams), device: device)
            let stepState = state
            steps = { try timeSteps(stepState, beams: beams) { s, t in _ = try model.text.nextLogits(tokens: t, state: &s, device: device) } }
            caption = { try model.generate(imageEmbeds: model.vision.forward(pixels: px, device: device), prompt: prompt, config: gen, device: device) }
            trace = { forcing in
                var state = try model.text.makeState(imageEmbeds: model.vision.forward(pixels: px, device: device), device: device)
                let hidden = try model.text.hiddenStates(ids: [prompt], state: &state, device: device)
                return try traceDecoder(model.text, state: state, first: model.text.lastLogits(hidden, device: device), forcing: forcing)
            }
        }
        fp32Bytes = ck.bytes
        tensorCount = ck.count
        quantized = source.quantizedCount
        // Quantized matrices as held, plus every other distinct tensor at fp32.
        let quantizedFp32Bytes = quantized.elements * 4
        memoryBytes = source.quantizedBytes + max(0, fp32Bytes - quantizedFp32Bytes)
    }
}

/// `RandomCheckpoint`'s tensors, generated on load. Tied entries (`lm_head.weight`) are left out, as published
/// Hugging Face GPT-2 files leave them out, so the model ties the head to `wte` instead of holding it twice.
struct LazyRandomTensors: TensorSource, @unchecked Sendable {
    let checkpoint: RandomCheckpoint
    let sourceDescription: String
    var tensorNames: [String] { checkpoint.specs.keys.sorted() }
    func tensorInfo(_ name: String) -> TensorInfo? {
        checkpoint.specs[name].map { TensorInfo(dtype: "F32", shape: $0.shape) }
    }
    func loadTensor(_ name: String) throws -> Tensor {
        guard checkpoint.specs[name] != nil, let t = checkpoint.make(name) else {
            throw WeightError.missing(name: name, source: sourceDescription)
        }
        return t
    }
}

/// Index of the largest value (the first on ties).
func argmaxIndex(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) } ?? 0 }
