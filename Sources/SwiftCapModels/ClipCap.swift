import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// Errors from loading or running the published captioners (ClipCap, SmallCap, BLIP); each names the
/// file, tensor or input at fault. Missing or mis-shaped tensors are reported as `WeightError`.
public enum CaptionerError: Error, CustomStringConvertible, Equatable {
    case config(file: String, String)
    case layout(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .config(let file, let detail): return "captioner config \(file): \(detail)"
        case .layout(let detail): return "captioner checkpoint: \(detail)"
        case .invalidInput(let detail): return "captioner: \(detail)"
        }
    }
}

/// Shape of a tensor the checkpoint must hold, or `WeightError.missing` naming it.
func captionerShape(_ w: Weights, _ name: String) throws -> [Int] {
    guard let info = w.source.tensorInfo(w.key(name)) else {
        throw WeightError.missing(name: w.key(name), source: w.source.sourceDescription)
    }
    return info.shape
}

/// Number of `prefix.N.suffix` entries (N = 0, 1, …) present.
func captionerLayerCount(_ w: Weights, _ prefix: String, _ suffix: String) -> Int {
    var n = 0
    while w.contains("\(prefix).\(n).\(suffix)") { n += 1 }
    return n
}

extension GPT2Config {
    /// A GPT-2 configuration read off the tensor shapes under `w` (which holds `transformer.wte.weight` or
    /// `wte.weight`), for checkpoints that ship without a config.json (ClipCap). Heads default to width / 64,
    /// as every published GPT-2 size has.
    public static func inferred(from w: Weights, heads: Int? = nil) throws -> GPT2Config {
        let t = w.contains("transformer.wte.weight") ? w.pp("transformer") : w
        let wte = try captionerShape(t, "wte.weight")
        let wpe = try captionerShape(t, "wpe.weight")
        guard wte.count == 2, wpe.count == 2, wte[1] == wpe[1], wte[1] > 0 else {
            throw CaptionerError.layout("\(t.key("wte.weight")) \(wte) and \(t.key("wpe.weight")) \(wpe) are not [vocab, d] and [positions, d]")
        }
        let d = wte[1]
        let layers = captionerLayerCount(t, "h", "ln_1.weight")
        guard layers > 0 else { throw WeightError.missing(name: t.key("h.0.ln_1.weight"), source: w.source.sourceDescription) }
        let fc = try captionerShape(t, "h.0.mlp.c_fc.weight")
        guard fc.count == 2, fc[0] == d else {
            throw WeightError.shapeMismatch(name: t.key("h.0.mlp.c_fc.weight"), expected: [d, fc.last ?? -1], actual: fc,
                                            source: w.source.sourceDescription)
        }
        let h = heads ?? max(d / 64, 1)
        let config = GPT2Config(vocabSize: wte[0], nPositions: wpe[0], nEmbd: d, nLayer: layers, nHead: h,
                                nInner: fc[1] == 4 * d ? nil : fc[1])
        try config.validate(file: w.source.sourceDescription)
        return config
    }
}

/// ClipCap's mapping network (`clip_project`): CLIP image embedding -> `prefixLength` GPT-2 input embeddings.
enum ClipCapMapper: Sendable {
    /// `clip_project.model.{0,2}`: Linear(clip, prefix·d/2), Tanh, Linear(prefix·d/2, prefix·d) (GPT-2 fine-tuned).
    case mlp(hiddenWeight: LinearWeight, hiddenBias: Tensor, outWeight: LinearWeight, outBias: Tensor)
    /// `clip_project.{linear, prefix_const, transformer.layers.N}`: the CLIP embedding becomes `clipLength`
    /// tokens, the learned constant adds `prefixLength` query tokens, a pre-norm transformer runs over both
    /// and the constant's positions are the prefix (GPT-2 frozen).
    case transformer(linearWeight: LinearWeight, linearBias: Tensor, prefixConst: Tensor, layers: [CLIPEncoderLayer],
                     clipLength: Int, heads: Int)
}

/// ClipCap (Mokady et al. 2021) in the official checkpoint layout: `clip_project.…` (mapper) and
/// `gpt.transformer.…` / `gpt.lm_head.weight` (GPT-2). Sizes are read off the tensor shapes (the official
/// .pt files come without a config): prefix length 10 for the MLP mapper, 40 for the transformer mapper.
public struct ClipCap: Sendable {
    public let gpt: GPT2
    let mapper: ClipCapMapper
    /// CLIP embedding width the mapper takes (512 for ViT-B/32).
    public let clipDim: Int
    public let prefixLength: Int

    /// Binds a checkpoint (a `torch.save`d state_dict or its safetensors conversion).
    /// - mapperHeads: attention heads of the transformer mapper (8 in the official code; not stored in the file)
    /// - gptHeads: GPT-2 heads (default width / 64)
    public init(weights: Weights, mapperHeads: Int = 8, gptHeads: Int? = nil, device: Device) throws {
        let g = weights.pp("gpt")
        let config = try GPT2Config.inferred(from: g, heads: gptHeads)
        gpt = try GPT2(config: config, weights: g)
        let d = config.nEmbd
        let p = weights.pp("clip_project")
        let source = weights.source.sourceDescription
        if p.contains("model.0.weight") {
            let first = try captionerShape(p, "model.0.weight")
            let last = try captionerShape(p, "model.2.weight")
            guard first.count == 2, last.count == 2, last[1] == first[0], last[0] % d == 0, last[0] > 0 else {
                throw CaptionerError.layout("\(p.key("model.0.weight")) \(first) and \(p.key("model.2.weight")) \(last) do not form Linear(clip, h) -> Linear(h, prefix·\(d))")
            }
            clipDim = first[1]
            prefixLength = last[0] / d
            mapper = .mlp(hiddenWeight: try p.linearWeight("model.0.weight", out: first[0], in: first[1]),
                          hiddenBias: try p.tensor("model.0.bias", shape: [first[0]]),
                          outWeight: try p.linearWeight("model.2.weight", out: last[0], in: last[1]),
                          outBias: try p.tensor("model.2.bias", shape: [last[0]]))
        } else if p.contains("linear.weight") {
            let lin = try captionerShape(p, "linear.weight")
            let constShape = try captionerShape(p, "prefix_const")
            guard lin.count == 2, lin[0] % d == 0, lin[0] > 0 else {
                throw WeightError.shapeMismatch(name: p.key("linear.weight"), expected: [-1, lin.last ?? -1], actual: lin, source: source)
            }
            guard constShape.count == 2, constShape[1] == d, constShape[0] > 0 else {
                throw WeightError.shapeMismatch(name: p.key("prefix_const"), expected: [constShape.first ?? -1, d], actual: constShape, source: source)
            }
            guard mapperHeads > 0, d % mapperHeads == 0 else {
                throw CaptionerError.layout("mapper width \(d) is not divisible by \(mapperHeads) heads")
            }
            clipDim = lin[1]
            prefixLength = constShape[0]
            let count = captionerLayerCount(p, "transformer.layers", "norm1.weight")
            guard count > 0 else { throw WeightError.missing(name: p.key("transformer.layers.0.norm1.weight"), source: source) }
            let inner = try captionerShape(p, "transformer.layers.0.mlp.fc1.weight").first ?? 0
            let layers = try (0..<count).map { i -> CLIPEncoderLayer in
                let l = p.pp("transformer.layers").pp(i)
                let q = try l.linearWeight("attn.to_queries.weight", out: d, in: d)
                let kv = try l.linearWeight("attn.to_keys_values.weight", out: 2 * d, in: d)
                return CLIPEncoderLayer(
                    ln1Weight: try l.tensor("norm1.weight", shape: [d]), ln1Bias: try l.tensor("norm1.bias", shape: [d]),
                    qkvWeight: try LinearWeight.concatenatingOutputs([q, kv], device: device), qkvBias: Tensor(zeros: [3 * d]),
                    outWeight: try l.linearWeight("attn.project.weight", out: d, in: d),
                    outBias: try l.tensor("attn.project.bias", shape: [d]),
                    ln2Weight: try l.tensor("norm2.weight", shape: [d]), ln2Bias: try l.tensor("norm2.bias", shape: [d]),
                    fc1Weight: try l.linearWeight("mlp.fc1.weight", out: inner, in: d), fc1Bias: try l.tensor("mlp.fc1.bias", shape: [inner]),
                    fc2Weight: try l.linearWeight("mlp.fc2.weight", out: d, in: inner), fc2Bias: try l.tensor("mlp.fc2.bias", shape: [d]))
            }
            mapper = .transformer(linearWeight: try p.linearWeight("linear.weight", out: lin[0], in: lin[1]),
                                  linearBias: try p.tensor("linear.bias", shape: [lin[0]]),
                                  prefixConst: try p.tensor("prefix_const", shape: constShape), layers: layers,
                                  clipLength: lin[0] / d, heads: mapperHeads)
        } else {
            throw CaptionerError.layout("\(source) holds neither '\(p.key("model.0.weight"))' (MLP mapper) nor '\(p.key("linear.weight"))' (transformer mapper)")
        }
    }

    /// Loads a checkpoint file (.pt state_dict or .safetensors, detected by content).
    public init(checkpoint url: URL, mapperHeads: Int = 8, gptHeads: Int? = nil, device: Device) throws {
        try self.init(weights: Weights(Checkpoint.open(url)), mapperHeads: mapperHeads, gptHeads: gptHeads, device: device)
    }

    /// Whether the mapper is the transformer one (trained on normalised CLIP embeddings in the official notebooks).
    public var isTransformerMapper: Bool {
        if case .transformer = mapper { return true }
        return false
    }

    /// clipEmbedding: [batch, clipDim] -> prefix embeddings [batch, prefixLength, d].
    public func prefix(clipEmbedding x: Tensor, device: Device) throws -> Tensor {
        guard x.rank == 2, x.shape[1] == clipDim, x.shape[0] > 0 else {
            throw CaptionerError.invalidInput("ClipCap wants CLIP embeddings [batch, \(clipDim)], got \(x.shape)")
        }
        let b = x.shape[0], d = gpt.config.nEmbd
        switch mapper {
        case let .mlp(hw, hb, ow, ob):
            let h = try device.linear(x, weight: hw, bias: hb)
            let t = Tensor(h.scalars.map { tanhf($0) }, shape: h.shape)
            return try device.linear(t, weight: ow, bias: ob).reshaped([b, prefixLength, d])
        case let .transformer(lw, lb, constant, layers, clipLength, heads):
            let tokens = try device.linear(x, weight: lw, bias: lb).reshaped([b, clipLength, d])
            let queries = try device.add(Tensor(zeros: [b, prefixLength, d]), constant.reshaped([1, prefixLength, d]))
            var h = try device.concat([tokens, queries], dim: 1)
            for layer in layers {
                h = try layer.forward(h, heads: heads, causal: false, activation: .relu, eps: 1e-5, device: device)
            }
            return try h.narrowed(dim: 1, start: clipLength, length: prefixLength).contiguous()
        }
    }

    /// Feeds the prefix to GPT-2: -> (final hidden states [batch, prefixLength, d], cache after the prefix).
    public func prefixHiddenStates(clipEmbedding: Tensor, device: Device) throws -> (hidden: Tensor, cache: KVCache) {
        var cache = gpt.makeCache()
        let hidden = try gpt.hiddenStates(embeddings: prefix(clipEmbedding: clipEmbedding, device: device),
                                          cache: &cache, device: device)
        return (hidden, cache)
    }

    /// Caption token ids (GPT-2 vocabulary) for each embedding row, decoded by `config` (greedy, beams, …).
    public func generate(clipEmbedding: Tensor, config: GenerationConfig, device: Device) throws -> [[Int]] {
        let (hidden, cache) = try prefixHiddenStates(clipEmbedding: clipEmbedding, device: device)
        let first = try gpt.lastLogits(hidden, device: device)
        return try Generator.generate(gpt, state: cache, firstLogits: first,
                                      prompts: Array(repeating: [], count: clipEmbedding.shape[0]), config: config, device: device)
    }
}

extension CLIPEncoderLayer {
    /// A pre-norm layer from tensors already bound (ClipCap's mapper layers, BLIP's vision layers):
    /// qkv [3d, d] (queries, keys, values stacked), out [d, d], fc1 [inner, d], fc2 [d, inner].
    init(ln1Weight: Tensor, ln1Bias: Tensor, qkvWeight: LinearWeight, qkvBias: Tensor, outWeight: LinearWeight, outBias: Tensor,
         ln2Weight: Tensor, ln2Bias: Tensor, fc1Weight: LinearWeight, fc1Bias: Tensor, fc2Weight: LinearWeight, fc2Bias: Tensor) {
        self.ln1Weight = ln1Weight
        self.ln1Bias = ln1Bias
        self.qkvWeight = qkvWeight
        self.qkvBias = qkvBias
        self.outWeight = outWeight
        self.outBias = outBias
        self.ln2Weight = ln2Weight
        self.ln2Bias = ln2Bias
        self.fc1Weight = fc1Weight
        self.fc1Bias = fc1Bias
        self.fc2Weight = fc2Weight
        self.fc2Bias = fc2Bias
    }
}
