import ArgumentParser
import Foundation
import SwiftCap

/// The captioners `bench model`, `caption --arch` and `serve --arch` know (SwiftCapPipelines' `CaptionerArch`).
extension CaptionerArch: ExpressibleByArgument {}

/// Random tensors under the published checkpoint names, so a model can be built at full size without files.
/// Matrices are uniform in ±scale, LayerNorm weights 1, biases 0.
struct RandomCheckpoint {
    var tensors: [String: Tensor] = [:]
    var rng: SplitMix64
    var scale: Float = 0.02

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// Names that alias another entry's tensor (tied weights), not counted in `bytes`.
    var aliases: Set<String> = []

    /// fp32 bytes of the distinct tensors.
    var bytes: Int { tensors.filter { !aliases.contains($0.key) }.values.reduce(0) { $0 + $1.count * 4 } }

    mutating func random(_ name: String, _ shape: [Int]) {
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = (rng.nextFloat() * 2 - 1) * scale }
        tensors[name] = Tensor(values, shape: shape)
    }

    mutating func constant(_ name: String, _ shape: [Int], _ value: Float) {
        tensors[name] = Tensor(repeating: value, shape: shape)
    }

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
        tensors[p + ".lm_head.weight"] = tensors[t + ".wte.weight"]
        aliases.insert(p + ".lm_head.weight")
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
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
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
        var options = PublishedCaptionerOptions()
        options.beams = beams
        options.maxTokens = tokens
        options.threads = compute.threads
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
        var ck = RandomCheckpoint(seed: 42)
        let buildStart = DispatchTime.now().uptimeNanoseconds
        // encode(): image -> decoder input; caption(): the whole timed caption.
        let encode: () throws -> Void
        // steps(): 5 timed decoder steps for `beams` rows after one untimed step (which pays the
        // copy-on-write of the shared prompt state), each step's ms.
        let steps: () throws -> [Double]
        let caption: () throws -> [[Int]]
        var description = ""
        let gen = GenerationConfig(maxNewTokens: tokens, stopTokens: [], numBeams: beams)
        switch arch {
        case .clipcap:
            let vision = CLIPVisionConfig.vitB32
            ck.clipVision("vision_model", vision)
            ck.random("visual_projection.weight", [512, vision.hiddenSize])
            let gptConfig = GPT2Config()
            ck.gpt2("gpt", gptConfig)
            ck.linear("clip_project.model.0", out: 768 * 10 / 2, in: 512)
            ck.linear("clip_project.model.2", out: 768 * 10, in: 768 * 10 / 2)
            let source = InMemoryTensors(ck.tensors, description: "random ClipCap")
            let clip = try CLIPVisionTransformer(huggingFace: Weights(source), config: vision, projectionDim: 512, device: device)
            let model = try ClipCap(weights: Weights(source), device: device)
            let pixels = Tensor(repeating: 0.1, shape: [1, 3, 224, 224])
            description = "CLIP ViT-B/32 (HF) + MLP mapper (prefix \(model.prefixLength)) + GPT-2 124M"
            encode = {
                let e = try clip.forward(pixels: pixels, device: device).imageEmbeds ?? Tensor(zeros: [1, 512])
                _ = try model.prefix(clipEmbedding: e, device: device)
            }
            let (hidden, cache) = try model.prefixHiddenStates(clipEmbedding: Tensor(repeating: 0.1, shape: [1, 512]), device: device)
            _ = hidden
            var beamCache = cache
            try beamCache.reorder(batch: Array(repeating: 0, count: beams), device: device)
            let stepCache = beamCache
            steps = { try timeSteps(stepCache, beams: beams) { c, t in _ = try model.gpt.nextLogits(tokens: t, state: &c, device: device) } }
            caption = {
                let e = try clip.forward(pixels: pixels, device: device).imageEmbeds ?? Tensor(zeros: [1, 512])
                return try model.generate(clipEmbedding: e, config: gen, device: device)
            }
        case .smallcap:
            let config = SmallCapConfig.published(reduceFactor: 4)
            ck.clipVision("encoder", config.vision)
            ck.gpt2("decoder", config.decoder, crossFactor: config.crossAttentionReduceFactor, encoderWidth: config.encoderHiddenSize)
            let model = try SmallCap(config: config, weights: Weights(InMemoryTensors(ck.tensors, description: "random SmallCap")), device: device)
            let pixels = Tensor(repeating: 0.1, shape: [1, 3, 224, 224])
            // A retrieval prompt of typical length: 4 captions of ~11 tokens plus the template (~60 tokens).
            let prompt = (0..<60).map { 100 + ($0 * 37) % 5000 }
            description = "CLIP ViT-B/32 encoder + GPT-2 124M with cross-attention (factor 4), prompt \(prompt.count) tokens"
            encode = { _ = try model.encode(pixels: pixels, device: device) }
            let enc = try model.encode(pixels: pixels, device: device)
            var state = try model.makeState(encoderStates: enc, device: device)
            _ = try model.hiddenStates(ids: [prompt], state: &state, device: device)
            try model.reorderState(&state, rows: Array(repeating: 0, count: beams), device: device)
            let stepState = state
            steps = { try timeSteps(stepState, beams: beams) { s, t in _ = try model.nextLogits(tokens: t, state: &s, device: device) } }
            caption = {
                let enc = try model.encode(pixels: pixels, device: device)
                return try model.generate(encoderStates: enc, prompts: [prompt], config: gen, device: device)
            }
        case .blip:
            let config = BLIPConfig.publishedBase
            ck.blip(config)
            let model = try BLIP(config: config, weights: Weights(InMemoryTensors(ck.tensors, description: "random BLIP")))
            let pixels = Tensor(repeating: 0.1, shape: [1, 3, 384, 384])
            let prompt = [30522, 1037, 3861, 1997]  // [DEC] a picture of
            description = "BLIP base: ViT-B/16 at 384² + BERT-base decoder (12 heads), prompt \"a picture of\""
            encode = { _ = try model.vision.forward(pixels: pixels, device: device) }
            let image = try model.vision.forward(pixels: pixels, device: device)
            var state = try model.text.makeState(imageEmbeds: image, device: device)
            _ = try model.text.hiddenStates(ids: [prompt], state: &state, device: device)
            try model.text.reorderState(&state, rows: Array(repeating: 0, count: beams), device: device)
            let stepState = state
            steps = { try timeSteps(stepState, beams: beams) { s, t in _ = try model.text.nextLogits(tokens: t, state: &s, device: device) } }
            caption = {
                let image = try model.vision.forward(pixels: pixels, device: device)
                return try model.generate(imageEmbeds: image, prompt: prompt, config: gen, device: device)
            }
        }
        let buildMs = milliseconds(since: buildStart)
        print(description)
        print(String(format: "weights: %.1f MB (%d tensors, fp32, tied ones once)   build incl. random fill: %.0f ms", Double(ck.bytes) / 1e6, ck.tensors.count, buildMs))
        var encodeMs: [Double] = [], stepMs: [Double] = [], totalMs: [Double] = []
        var produced = 0
        for _ in 0..<runs {
            var t = DispatchTime.now().uptimeNanoseconds
            try encode()
            encodeMs.append(milliseconds(since: t))
            stepMs += try steps()
            t = DispatchTime.now().uptimeNanoseconds
            let ids = try caption()
            totalMs.append(milliseconds(since: t))
            produced = ids.first?.count ?? 0
        }
        print(pad("encoder (ms)", 34) + String(format: "%.1f", median(encodeMs)))
        print(pad("decoder step, \(beams) beams (ms/token)", 34) + String(format: "%.1f", median(stepMs)))
        print(pad("caption: \(tokens) tokens, beam \(beams) (ms)", 34) + String(format: "%.1f", median(totalMs)) + "   (\(produced) tokens produced)")
        print(pad("peak RSS (MB)", 34) + String(format: "%.0f", Double(peakRSSBytes()) / 1e6))
        print("medians of \(runs) runs (decoder step: \(runs * 5) samples)")
    }
}
