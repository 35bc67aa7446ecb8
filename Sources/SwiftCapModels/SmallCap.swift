import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// SmallCap's configuration, read from the VisionEncoderDecoder `config.json` it is published with:
/// `encoder` (a CLIP config, either a full one with `vision_config` or a vision-only one) and `decoder`
/// (GPT-2 keys plus `cross_attention_reduce_factor`).
public struct SmallCapConfig: Sendable, Equatable {
    public var vision: CLIPVisionConfig
    public var decoder: GPT2Config
    /// The cross-attention works at width n_embd / factor (published: 4, 8 or 16).
    public var crossAttentionReduceFactor: Int
    /// Width of the encoder states the cross-attention reads (the CLIP vision width).
    public var encoderHiddenSize: Int

    public init(vision: CLIPVisionConfig, decoder: GPT2Config, crossAttentionReduceFactor: Int, encoderHiddenSize: Int? = nil) {
        self.vision = vision
        self.decoder = decoder
        self.crossAttentionReduceFactor = crossAttentionReduceFactor
        self.encoderHiddenSize = encoderHiddenSize ?? vision.hiddenSize
    }

    /// The published SmallCap7M / 3.5M / 1.8M sizes: ViT-B/32 encoder, GPT-2 base decoder.
    public static func published(reduceFactor: Int = 4) -> SmallCapConfig {
        SmallCapConfig(vision: .vitB32, decoder: GPT2Config(), crossAttentionReduceFactor: reduceFactor)
    }

    /// Cross-attention width (n_embd / factor).
    public var crossWidth: Int { decoder.nEmbd / max(crossAttentionReduceFactor, 1) }

    public func validate(file: String) throws {
        try vision.validate(file: file)
        try decoder.validate(file: file)
        let f = crossAttentionReduceFactor
        guard f > 0, decoder.nEmbd % f == 0, crossWidth % decoder.nHead == 0 else {
            throw CaptionerError.config(file: file, "cross_attention_reduce_factor \(f) must divide n_embd \(decoder.nEmbd) into a multiple of n_head \(decoder.nHead)")
        }
        guard encoderHiddenSize > 0 else { throw CaptionerError.config(file: file, "encoder hidden size must be positive") }
    }

    /// Reads a SmallCap `config.json`.
    public static func load(from url: URL) throws -> SmallCapConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CaptionerError.config(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CaptionerError.config(file: url.path, "not a JSON object")
        }
        guard let enc = root["encoder"] as? [String: Any], let dec = root["decoder"] as? [String: Any] else {
            throw CaptionerError.config(file: url.path, "expected 'encoder' and 'decoder' objects (VisionEncoderDecoder layout)")
        }
        let visionObject = (enc["vision_config"] as? [String: Any]) ?? enc
        let vision: CLIPVisionConfig
        let decoder: GPT2Config
        do {
            vision = try JSONDecoder().decode(CLIPVisionConfig.self, from: JSONSerialization.data(withJSONObject: visionObject))
            decoder = try JSONDecoder().decode(GPT2Config.self, from: JSONSerialization.data(withJSONObject: dec))
        } catch {
            throw CaptionerError.config(file: url.path, "encoder/decoder config: \(error)")
        }
        let factor = (dec["cross_attention_reduce_factor"] as? Int) ?? 1
        let encHidden = (dec["encoder_hidden_size"] as? Int) ?? (dec["cross_attention_hidden_size"] as? Int)
        let config = SmallCapConfig(vision: vision, decoder: decoder, crossAttentionReduceFactor: factor,
                                    encoderHiddenSize: encHidden ?? vision.hiddenSize)
        try config.validate(file: url.path)
        return config
    }
}

/// One layer's reduced-width cross-attention (`h.N.crossattention`, `h.N.ln_cross_attn`). Conv1D weights
/// are stored [in, out]: fp32 ones are kept transposed to [out, in] for `linear`, int8/q4 ones stay quantized as stored.
struct SmallCapCrossAttention: Sendable {
    var lnWeight, lnBias: Tensor      // [d]
    // Conv1D weights: fp32 [out, in], or quantized as stored [in, out] (`LinearWeight`).
    var qWeight: LinearWeight; var qBias: Tensor        // d -> d/f, [d/f]
    var kvWeight: LinearWeight; var kvBias: Tensor      // enc -> 2d/f, [2d/f]
    var projWeight: LinearWeight; var projBias: Tensor  // d/f -> d, [d]
}

/// Decoder state: GPT-2's self-attention cache plus each layer's cross-attention keys and values
/// ([images, heads, encoderTokens, headDim / factor]), computed once per image and shared by its beams.
public struct SmallCapState: Sendable {
    public var cache: KVCache
    public var cross: CrossAttentionMemory
}

/// SmallCap (Ramos et al. 2023) in its published Hugging Face VisionEncoderDecoder layout: `encoder.…` is a
/// CLIP vision transformer (`embeddings`, `pre_layrnorm`, `encoder.layers.N`, `post_layernorm`) and
/// `decoder.…` a GPT2LMHeadModel whose blocks carry SmallCap's cross-attention at reduced width:
/// `crossattention.q_attn` d -> d/f, `crossattention.c_attn` enc -> 2d/f (keys, values),
/// `crossattention.c_proj` d/f -> d, softmax scale 1/√(head_dim/f); it reads every encoder token
/// (class token included, before `post_layernorm`).
public struct SmallCap: Sendable {
    public let config: SmallCapConfig
    public let encoder: CLIPVisionTransformer
    public let decoder: GPT2
    let cross: [SmallCapCrossAttention]

    public init(config: SmallCapConfig, weights: Weights, device: Device) throws {
        try config.validate(file: weights.source.sourceDescription)
        self.config = config
        encoder = try CLIPVisionTransformer(visionModel: weights.pp("encoder"), config: config.vision, device: device)
        let dw = weights.pp("decoder")
        decoder = try GPT2(config: config.decoder, weights: dw)
        let t = dw.contains("transformer.wte.weight") ? dw.pp("transformer") : dw
        let d = config.decoder.nEmbd, r = config.crossWidth, e = config.encoderHiddenSize
        cross = try (0..<config.decoder.nLayer).map { i in
            let h = t.pp("h").pp(i)
            let c = h.pp("crossattention")
            func conv1D(_ name: String, _ inF: Int, _ outF: Int) throws -> LinearWeight {
                try c.conv1DWeight(name, in: inF, out: outF)
            }
            return SmallCapCrossAttention(
                lnWeight: try h.tensor("ln_cross_attn.weight", shape: [d]), lnBias: try h.tensor("ln_cross_attn.bias", shape: [d]),
                qWeight: try conv1D("q_attn.weight", d, r), qBias: try c.tensor("q_attn.bias", shape: [r]),
                kvWeight: try conv1D("c_attn.weight", e, 2 * r), kvBias: try c.tensor("c_attn.bias", shape: [2 * r]),
                projWeight: try conv1D("c_proj.weight", r, d), projBias: try c.tensor("c_proj.bias", shape: [d]))
        }
    }

    /// Loads `config.json` and `model.safetensors` (or `pytorch_model.bin`) from a model directory.
    public init(directory: URL, device: Device) throws {
        let config = try SmallCapConfig.load(from: directory.appendingPathComponent("config.json"))
        let st = directory.appendingPathComponent("model.safetensors")
        let bin = directory.appendingPathComponent("pytorch_model.bin")
        let file = FileManager.default.fileExists(atPath: st.path) ? st : bin
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CaptionerError.config(file: directory.path, "neither model.safetensors nor pytorch_model.bin is present")
        }
        try self.init(config: config, weights: Weights(Checkpoint.open(file)), device: device)
    }

    /// pixels [batch, 3, size, size] (CLIP-normalised) -> encoder states [batch, tokens, width] (all tokens).
    public func encode(pixels: Tensor, device: Device) throws -> Tensor {
        try encoder.forward(pixels: pixels, device: device).lastHiddenState
    }

    /// A fresh decoder state over `encoderStates` [batch, tokens, encoderHiddenSize].
    public func makeState(encoderStates x: Tensor, device: Device) throws -> SmallCapState {
        guard x.rank == 3, x.shape[2] == config.encoderHiddenSize, x.shape[1] > 0 else {
            throw CaptionerError.invalidInput("SmallCap encoder states must be [batch, tokens, \(config.encoderHiddenSize)], got \(x.shape)")
        }
        var keys: [Tensor] = [], values: [Tensor] = []
        for layer in cross {
            let kv = try device.split(device.linear(x, weight: layer.kvWeight, bias: layer.kvBias), parts: 2, dim: 2)
            keys.append(try device.splitHeads(kv[0], heads: config.decoder.nHead).contiguous())
            values.append(try device.splitHeads(kv[1], heads: config.decoder.nHead).contiguous())
        }
        return SmallCapState(cache: decoder.makeCache(), cross: CrossAttentionMemory(keys: keys, values: values))
    }

    /// Decoder final hidden states for equally long rows of token ids after what `state` holds: -> [batch, seq, d].
    public func hiddenStates(ids: [[Int]], state: inout SmallCapState, device: Device) throws -> Tensor {
        guard ids.count == state.cross.rows else {
            throw CaptionerError.invalidInput("\(ids.count) token rows for a state of \(state.cross.rows) rows")
        }
        let heads = config.decoder.nHead, eps = config.decoder.layerNormEpsilon
        let memory = state.cross
        return try decoder.hiddenStates(embeddings: decoder.embed(ids, device: device), cache: &state.cache, afterAttention: { i, h in
            let layer = cross[i]
            let a = try device.layerNorm(h, weight: layer.lnWeight, bias: layer.lnBias, eps: eps)
            let q = try device.splitHeads(device.linear(a, weight: layer.qWeight, bias: layer.qBias), heads: heads)
            let o = try memory.attend(query: q, layer: i, device: device)
            return try device.add(h, device.linear(device.mergeHeads(o), weight: layer.projWeight, bias: layer.projBias))
        }, device: device)
    }

    /// The retrieval prompt as SmallCap's code builds it from its template file
    /// ("Similar images show\n\n||\n\nThis image shows " after `strip() + ' '`): the first `k` retrieved
    /// captions joined by blank lines, then ".". Tokenize it with the GPT-2 tokenizer (no special tokens).
    public static func prompt(retrievedCaptions: [String], k: Int = 4) -> String {
        let infix = retrievedCaptions.prefix(max(k, 0)).joined(separator: "\n\n") + "."
        return "Similar images show\n\n" + infix + "\n\nThis image shows "
    }

    /// Caption ids for each image: encoder states [batch, tokens, width], one prompt (token ids) per image.
    public func generate(encoderStates: Tensor, prompts: [[Int]], config gen: GenerationConfig, device: Device) throws -> [[Int]] {
        var state = try makeState(encoderStates: encoderStates, device: device)
        guard prompts.count == encoderStates.shape[0], !prompts.isEmpty else {
            throw CaptionerError.invalidInput("\(prompts.count) prompts for \(encoderStates.shape[0]) images")
        }
        // One batched prompt pass (no padding mask): rows must be equally long.
        guard Set(prompts.map(\.count)).count == 1, !prompts[0].isEmpty else {
            throw CaptionerError.invalidInput("SmallCap prompts in one batch must be non-empty and equally long, got \(prompts.map(\.count)) tokens")
        }
        let hidden = try hiddenStates(ids: prompts, state: &state, device: device)
        let first = try decoder.lastLogits(hidden, device: device)
        return try Generator.generate(self, state: state, firstLogits: first, prompts: prompts, config: gen, device: device)
    }
}

extension SmallCap: CausalDecoder {
    public typealias State = SmallCapState
    public var vocabularySize: Int { config.decoder.vocabSize }

    public func nextLogits(tokens: [Int], state: inout SmallCapState, device: Device) throws -> Tensor {
        let hidden = try hiddenStates(ids: tokens.map { [$0] }, state: &state, device: device)
        return try decoder.lastLogits(hidden, device: device)
    }

    public func reorderState(_ state: inout SmallCapState, rows: [Int], device: Device) throws {
        if state.cache.length > 0 { try state.cache.reorder(batch: rows, device: device) }
        try state.cross.reorder(rows: rows, device: device)
    }
}
