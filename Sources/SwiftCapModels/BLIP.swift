import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// BLIP vision hyper-parameters (transformers' `BlipVisionConfig` keys and defaults).
public struct BLIPVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var imageSize = 384
    public var patchSize = 16
    public var hiddenAct = "gelu"
    public var layerNormEps: Float = 1e-5

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", imageSize = "image_size", patchSize = "patch_size"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? numAttentionHeads
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? patchSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? layerNormEps
    }

    public var grid: Int { imageSize / max(patchSize, 1) }
    public var tokens: Int { grid * grid + 1 }
}

/// BLIP text decoder hyper-parameters (transformers' `BlipTextConfig` keys and defaults: note the default
/// 8 heads; the published captioning checkpoints say 12 in their config.json).
public struct BLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize = 30524
    public var hiddenSize = 768
    public var encoderHiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 512
    public var hiddenAct = "gelu"
    public var layerNormEps: Float = 1e-12
    public var bosTokenId = 30522
    public var sepTokenId = 102
    public var padTokenId = 0

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", encoderHiddenSize = "encoder_hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", bosTokenId = "bos_token_id"
        case sepTokenId = "sep_token_id", padTokenId = "pad_token_id"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? hiddenSize
        encoderHiddenSize = try c.decodeIfPresent(Int.self, forKey: .encoderHiddenSize) ?? encoderHiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? numAttentionHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? layerNormEps
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId) ?? bosTokenId
        sepTokenId = try c.decodeIfPresent(Int.self, forKey: .sepTokenId) ?? sepTokenId
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? padTokenId
    }
}

/// `BlipForConditionalGeneration`'s configuration (`vision_config`, `text_config`).
public struct BLIPConfig: Sendable, Equatable {
    public var vision: BLIPVisionConfig
    public var text: BLIPTextConfig

    public init(vision: BLIPVisionConfig = BLIPVisionConfig(), text: BLIPTextConfig = BLIPTextConfig()) {
        self.vision = vision
        self.text = text
    }

    /// Salesforce/blip-image-captioning-base: ViT-B/16 at 384², BERT-base decoder with 12 heads.
    public static var publishedBase: BLIPConfig {
        var t = BLIPTextConfig()
        t.numAttentionHeads = 12
        return BLIPConfig(vision: BLIPVisionConfig(), text: t)
    }

    public func validate(file: String) throws {
        let v = vision, t = text
        guard v.hiddenSize > 0, v.numAttentionHeads > 0, v.hiddenSize % v.numAttentionHeads == 0, v.patchSize > 0,
              v.imageSize % v.patchSize == 0, v.numHiddenLayers > 0, v.intermediateSize > 0 else {
            throw CaptionerError.config(file: file, "vision_config sizes are inconsistent (hidden \(v.hiddenSize), heads \(v.numAttentionHeads), image \(v.imageSize), patch \(v.patchSize))")
        }
        guard t.hiddenSize > 0, t.numAttentionHeads > 0, t.hiddenSize % t.numAttentionHeads == 0, t.vocabSize > 0,
              t.numHiddenLayers > 0, t.intermediateSize > 0, t.maxPositionEmbeddings > 0, t.encoderHiddenSize > 0 else {
            throw CaptionerError.config(file: file, "text_config sizes are inconsistent (hidden \(t.hiddenSize), heads \(t.numAttentionHeads), vocab \(t.vocabSize))")
        }
        for (name, id) in [("bos_token_id", t.bosTokenId), ("sep_token_id", t.sepTokenId)] where id < 0 || id >= t.vocabSize {
            throw CaptionerError.config(file: file, "text_config \(name) \(id) is outside the vocabulary of \(t.vocabSize)")
        }
        for act in [v.hiddenAct, t.hiddenAct] where Activation(configName: act) == nil {
            throw CaptionerError.config(file: file, "unknown activation '\(act)'")
        }
    }

    public static func load(from url: URL) throws -> BLIPConfig {
        struct Full: Decodable {
            var vision_config: BLIPVisionConfig?
            var text_config: BLIPTextConfig?
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CaptionerError.config(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        let full: Full
        do { full = try JSONDecoder().decode(Full.self, from: data) } catch {
            throw CaptionerError.config(file: url.path, "not a BLIP config: \(error)")
        }
        let config = BLIPConfig(vision: full.vision_config ?? BLIPVisionConfig(), text: full.text_config ?? BLIPTextConfig())
        try config.validate(file: url.path)
        return config
    }
}

/// BLIP's ViT (`vision_model.embeddings.{class_embedding, patch_embedding, position_embedding}`,
/// `vision_model.encoder.layers.N.{layer_norm1, self_attn.qkv, self_attn.projection, layer_norm2, mlp.fc1/fc2}`,
/// `vision_model.post_layernorm`); no pre-norm, `post_layernorm` applied to every token.
public struct BLIPVisionEncoder: Sendable {
    public let config: BLIPVisionConfig
    let patchWeight: Tensor        // [d, 3·p·p]
    let patchBias: Tensor          // [d]
    let classEmbedding: Tensor     // [d]
    let positionEmbedding: Tensor  // [tokens, d]
    let layers: [CLIPEncoderLayer]
    let postLNWeight, postLNBias: Tensor
    let activation: Activation

    /// `v` is the `vision_model` root.
    public init(weights v: Weights, config: BLIPVisionConfig) throws {
        self.config = config
        let d = config.hiddenSize, p = config.patchSize, inner = config.intermediateSize
        let e = v.pp("embeddings")
        patchWeight = try e.tensor("patch_embedding.weight", shape: [d, 3, p, p]).reshaped([d, 3 * p * p])
        patchBias = try e.tensor("patch_embedding.bias", shape: [d])
        classEmbedding = try e.tensor("class_embedding", shape: [1, 1, d]).reshaped([d])
        positionEmbedding = try e.tensor("position_embedding", shape: [1, config.tokens, d]).reshaped([config.tokens, d])
        layers = try (0..<config.numHiddenLayers).map { i in
            let l = v.pp("encoder.layers").pp(i)
            return CLIPEncoderLayer(
                ln1Weight: try l.tensor("layer_norm1.weight", shape: [d]), ln1Bias: try l.tensor("layer_norm1.bias", shape: [d]),
                qkvWeight: try l.linearWeight("self_attn.qkv.weight", out: 3 * d, in: d),
                qkvBias: try l.tensor("self_attn.qkv.bias", shape: [3 * d]),
                outWeight: try l.linearWeight("self_attn.projection.weight", out: d, in: d),
                outBias: try l.tensor("self_attn.projection.bias", shape: [d]),
                ln2Weight: try l.tensor("layer_norm2.weight", shape: [d]), ln2Bias: try l.tensor("layer_norm2.bias", shape: [d]),
                fc1Weight: try l.linearWeight("mlp.fc1.weight", out: inner, in: d), fc1Bias: try l.tensor("mlp.fc1.bias", shape: [inner]),
                fc2Weight: try l.linearWeight("mlp.fc2.weight", out: d, in: inner), fc2Bias: try l.tensor("mlp.fc2.bias", shape: [d]))
        }
        postLNWeight = try v.tensor("post_layernorm.weight", shape: [d])
        postLNBias = try v.tensor("post_layernorm.bias", shape: [d])
        activation = Activation(configName: config.hiddenAct) ?? .gelu
    }

    /// pixels [batch, 3, size, size] (BLIP-normalised) -> image embeddings [batch, tokens, d] (after `post_layernorm`).
    public func forward(pixels: Tensor, device: Device) throws -> Tensor {
        let s = config.imageSize, p = config.patchSize, g = config.grid, d = config.hiddenSize
        guard pixels.rank == 4, pixels.shape[1] == 3, pixels.shape[2] == s, pixels.shape[3] == s, pixels.shape[0] > 0 else {
            throw CaptionerError.invalidInput("BLIP pixels must be [batch, 3, \(s), \(s)], got \(pixels.shape)")
        }
        let b = pixels.shape[0]
        let patches = try pixels.reshaped([b, 3, g, p, g, p]).permuted([0, 2, 4, 1, 3, 5]).contiguous().reshaped([b, g * g, 3 * p * p])
        let patchEmbeds = try device.linear(patches, weight: patchWeight, bias: patchBias)
        let cls = try device.add(Tensor(zeros: [b, 1, d]), classEmbedding.reshaped([1, 1, d]))
        var h = try device.add(device.concat([cls, patchEmbeds], dim: 1), positionEmbedding)
        for layer in layers {
            h = try layer.forward(h, heads: config.numAttentionHeads, causal: false, activation: activation,
                                  eps: config.layerNormEps, device: device)
        }
        return try device.layerNorm(h, weight: postLNWeight, bias: postLNBias, eps: config.layerNormEps)
    }
}

/// One post-norm BERT attention block (`self.{query,key,value}`, `output.{dense,LayerNorm}`).
struct BLIPAttentionBlock: Sendable {
    // Linear weights: fp32 or, from an int8/q4 checkpoint, quantized in memory (`LinearWeight`).
    var qWeight: LinearWeight; var qBias: Tensor        // [d, d], [d]
    var kWeight: LinearWeight; var kBias: Tensor        // [d, in], [d]
    var vWeight: LinearWeight; var vBias: Tensor        // [d, in], [d]
    var outWeight: LinearWeight; var outBias: Tensor    // [d, d], [d]
    var lnWeight, lnBias: Tensor

    init(_ w: Weights, width d: Int, keyWidth k: Int) throws {
        let s = w.pp("self"), o = w.pp("output")
        qWeight = try s.linearWeight("query.weight", out: d, in: d); qBias = try s.tensor("query.bias", shape: [d])
        kWeight = try s.linearWeight("key.weight", out: d, in: k); kBias = try s.tensor("key.bias", shape: [d])
        vWeight = try s.linearWeight("value.weight", out: d, in: k); vBias = try s.tensor("value.bias", shape: [d])
        outWeight = try o.linearWeight("dense.weight", out: d, in: d); outBias = try o.tensor("dense.bias", shape: [d])
        lnWeight = try o.tensor("LayerNorm.weight", shape: [d]); lnBias = try o.tensor("LayerNorm.bias", shape: [d])
    }
}

struct BLIPTextLayer: Sendable {
    var attention: BLIPAttentionBlock
    var cross: BLIPAttentionBlock
    var interWeight: LinearWeight; var interBias: Tensor   // [inner, d], [inner]
    var outWeight: LinearWeight; var outBias: Tensor       // [d, inner], [d]
    var lnWeight, lnBias: Tensor
}

/// Decoder state: self-attention cache and each layer's cross-attention keys/values, once per image
/// ([images, heads, imageTokens, headDim], shared by the image's beams).
public struct BLIPState: Sendable {
    public var cache: KVCache
    public var cross: CrossAttentionMemory
}

/// BLIP's BERT decoder (`text_decoder.bert.embeddings.{word_embeddings, position_embeddings, LayerNorm}`,
/// `text_decoder.bert.encoder.layer.N.{attention, crossattention, intermediate, output}`,
/// `text_decoder.cls.predictions.{transform.dense, transform.LayerNorm, decoder.weight (or tied to the word
/// embeddings), bias}`): causal post-norm layers with cross-attention to the image embeddings.
public struct BLIPTextDecoder: Sendable {
    public let config: BLIPTextConfig
    let wordEmbeddings: LinearWeight      // [vocab, d] (fp32 or quantized per row)
    let positionEmbeddings: LinearWeight  // [positions, d]
    let embLNWeight, embLNBias: Tensor
    let layers: [BLIPTextLayer]
    let transformWeight: LinearWeight     // [d, d]
    let transformBias, transformLNWeight, transformLNBias: Tensor
    let outputWeight: LinearWeight        // [vocab, d]
    let outputBias: Tensor          // [vocab]
    let activation: Activation

    /// `w` is the `text_decoder` root.
    public init(weights w: Weights, config: BLIPTextConfig) throws {
        self.config = config
        let d = config.hiddenSize, v = config.vocabSize, inner = config.intermediateSize
        let e = w.pp("bert.embeddings")
        wordEmbeddings = try e.linearWeight("word_embeddings.weight", out: v, in: d)
        positionEmbeddings = try e.linearWeight("position_embeddings.weight", out: config.maxPositionEmbeddings, in: d)
        embLNWeight = try e.tensor("LayerNorm.weight", shape: [d])
        embLNBias = try e.tensor("LayerNorm.bias", shape: [d])
        layers = try (0..<config.numHiddenLayers).map { i in
            let l = w.pp("bert.encoder.layer").pp(i)
            return BLIPTextLayer(
                attention: try BLIPAttentionBlock(l.pp("attention"), width: d, keyWidth: d),
                cross: try BLIPAttentionBlock(l.pp("crossattention"), width: d, keyWidth: config.encoderHiddenSize),
                interWeight: try l.linearWeight("intermediate.dense.weight", out: inner, in: d),
                interBias: try l.tensor("intermediate.dense.bias", shape: [inner]),
                outWeight: try l.linearWeight("output.dense.weight", out: d, in: inner),
                outBias: try l.tensor("output.dense.bias", shape: [d]),
                lnWeight: try l.tensor("output.LayerNorm.weight", shape: [d]),
                lnBias: try l.tensor("output.LayerNorm.bias", shape: [d]))
        }
        let p = w.pp("cls.predictions")
        transformWeight = try p.linearWeight("transform.dense.weight", out: d, in: d)
        transformBias = try p.tensor("transform.dense.bias", shape: [d])
        transformLNWeight = try p.tensor("transform.LayerNorm.weight", shape: [d])
        transformLNBias = try p.tensor("transform.LayerNorm.bias", shape: [d])
        outputWeight = p.contains("decoder.weight") ? try p.linearWeight("decoder.weight", out: v, in: d) : wordEmbeddings
        outputBias = p.contains("bias") ? try p.tensor("bias", shape: [v]) : try p.tensor("decoder.bias", shape: [v])
        activation = Activation(configName: config.hiddenAct) ?? .gelu
    }

    /// A fresh state over image embeddings [batch, tokens, encoderHiddenSize].
    public func makeState(imageEmbeds x: Tensor, device: Device) throws -> BLIPState {
        guard x.rank == 3, x.shape[2] == config.encoderHiddenSize, x.shape[1] > 0 else {
            throw CaptionerError.invalidInput("BLIP image embeddings must be [batch, tokens, \(config.encoderHiddenSize)], got \(x.shape)")
        }
        var keys: [Tensor] = [], values: [Tensor] = []
        for layer in layers {
            let c = layer.cross
            keys.append(try device.splitHeads(device.linear(x, weight: c.kWeight, bias: c.kBias), heads: config.numAttentionHeads).contiguous())
            values.append(try device.splitHeads(device.linear(x, weight: c.vWeight, bias: c.vBias), heads: config.numAttentionHeads).contiguous())
        }
        return BLIPState(cache: KVCache(layers: layers.count), cross: CrossAttentionMemory(keys: keys, values: values))
    }

    /// Last-layer hidden states for equally long rows of ids after the cached positions: -> [batch, seq, d].
    public func hiddenStates(ids: [[Int]], state: inout BLIPState, device: Device) throws -> Tensor {
        guard let seq = ids.first?.count, seq > 0, ids.allSatisfy({ $0.count == seq }),
              ids.count == state.cross.rows else {
            throw CaptionerError.invalidInput("BLIP token rows must be non-empty, equally long and one per state row; got lengths \(ids.map(\.count))")
        }
        let past = state.cache.length
        guard past + seq <= config.maxPositionEmbeddings else {
            throw CaptionerError.invalidInput("\(past) cached + \(seq) new positions exceed max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        let heads = config.numAttentionHeads, eps = config.layerNormEps
        let words = try device.embedding(ids.flatMap { $0 }, table: wordEmbeddings, shape: [ids.count, seq])
        let positions = try device.embedding(Array(past..<(past + seq)), table: positionEmbeddings)
        var h = try device.layerNorm(device.add(words, positions), weight: embLNWeight, bias: embLNBias, eps: eps)
        for (i, layer) in layers.enumerated() {
            let a = layer.attention
            let q = try device.splitHeads(device.linear(h, weight: a.qWeight, bias: a.qBias), heads: heads)
            let k = try device.splitHeads(device.linear(h, weight: a.kWeight, bias: a.kBias), heads: heads)
            let v = try device.splitHeads(device.linear(h, weight: a.vWeight, bias: a.vBias), heads: heads)
            let kv = try state.cache.append(layer: i, keys: k, values: v)
            let sa = try device.mergeHeads(device.scaledDotProductAttention(query: q, cached: kv, causal: true))
            h = try device.layerNorm(device.add(h, device.linear(sa, weight: a.outWeight, bias: a.outBias)),
                                     weight: a.lnWeight, bias: a.lnBias, eps: eps)
            let c = layer.cross
            let cq = try device.splitHeads(device.linear(h, weight: c.qWeight, bias: c.qBias), heads: heads)
            let ca = try device.mergeHeads(state.cross.attend(query: cq, layer: i, device: device))
            h = try device.layerNorm(device.add(h, device.linear(ca, weight: c.outWeight, bias: c.outBias)),
                                     weight: c.lnWeight, bias: c.lnBias, eps: eps)
            let f = device.activation(try device.linear(h, weight: layer.interWeight, bias: layer.interBias), activation)
            h = try device.layerNorm(device.add(h, device.linear(f, weight: layer.outWeight, bias: layer.outBias)),
                                     weight: layer.lnWeight, bias: layer.lnBias, eps: eps)
        }
        return h
    }

    /// Vocabulary logits: hidden [..., d] -> [..., vocab].
    public func logits(_ hidden: Tensor, device: Device) throws -> Tensor {
        let t = device.activation(try device.linear(hidden, weight: transformWeight, bias: transformBias), activation)
        let n = try device.layerNorm(t, weight: transformLNWeight, bias: transformLNBias, eps: config.layerNormEps)
        return try device.linear(n, weight: outputWeight, bias: outputBias)
    }

    /// Logits of each row's last position: hidden [batch, seq, d] -> [batch, vocab].
    public func lastLogits(_ hidden: Tensor, device: Device) throws -> Tensor {
        let last = try hidden.narrowed(dim: 1, start: hidden.shape[1] - 1, length: 1)
        return try logits(last, device: device).reshaped([hidden.shape[0], config.vocabSize])
    }
}

extension BLIPTextDecoder: CausalDecoder {
    public typealias State = BLIPState
    public var vocabularySize: Int { config.vocabSize }

    public func nextLogits(tokens: [Int], state: inout BLIPState, device: Device) throws -> Tensor {
        try lastLogits(hiddenStates(ids: tokens.map { [$0] }, state: &state, device: device), device: device)
    }

    public func reorderState(_ state: inout BLIPState, rows: [Int], device: Device) throws {
        if state.cache.length > 0 { try state.cache.reorder(batch: rows, device: device) }
        try state.cross.reorder(rows: rows, device: device)
    }
}

/// BLIP image captioning in the Hugging Face `BlipForConditionalGeneration` layout (`vision_model.…`,
/// `text_decoder.…`), with the config read from `config.json`.
public struct BLIP: Sendable {
    public let config: BLIPConfig
    public let vision: BLIPVisionEncoder
    public let text: BLIPTextDecoder

    public init(config: BLIPConfig, weights: Weights) throws {
        try config.validate(file: weights.source.sourceDescription)
        guard config.text.encoderHiddenSize == config.vision.hiddenSize else {
            throw CaptionerError.config(file: weights.source.sourceDescription,
                                        "text encoder_hidden_size \(config.text.encoderHiddenSize) differs from the vision width \(config.vision.hiddenSize)")
        }
        self.config = config
        vision = try BLIPVisionEncoder(weights: weights.pp("vision_model"), config: config.vision)
        text = try BLIPTextDecoder(weights: weights.pp("text_decoder"), config: config.text)
    }

    /// Loads `config.json` and `model.safetensors` (or `pytorch_model.bin`) from a model directory.
    public init(directory: URL) throws {
        let config = try BLIPConfig.load(from: directory.appendingPathComponent("config.json"))
        let st = directory.appendingPathComponent("model.safetensors")
        let bin = directory.appendingPathComponent("pytorch_model.bin")
        let file = FileManager.default.fileExists(atPath: st.path) ? st : bin
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CaptionerError.config(file: directory.path, "neither model.safetensors nor pytorch_model.bin is present")
        }
        try self.init(config: config, weights: Weights(Checkpoint.open(file)))
    }

    /// The decoder input for a tokenized prompt as `generate` builds it: [CLS] replaced by bos ([DEC]),
    /// the trailing [SEP] dropped. `tokenized` is the WordPiece output ([CLS] … [SEP]).
    public func decoderPrompt(tokenized: [Int]) throws -> [Int] {
        guard tokenized.count >= 2 else {
            throw CaptionerError.invalidInput("a BLIP prompt needs [CLS] … [SEP], got \(tokenized)")
        }
        return [config.text.bosTokenId] + tokenized[1..<(tokenized.count - 1)]
    }

    /// Caption ids after the prompt for each image embedding row; stops at [SEP].
    public func generate(imageEmbeds: Tensor, prompt: [Int], config gen: GenerationConfig, device: Device) throws -> [[Int]] {
        var state = try text.makeState(imageEmbeds: imageEmbeds, device: device)
        let prompts = Array(repeating: prompt, count: imageEmbeds.shape[0])
        let hidden = try text.hiddenStates(ids: prompts, state: &state, device: device)
        var g = gen
        if g.stopTokens.isEmpty { g.stopTokens = [config.text.sepTokenId] }
        return try Generator.generate(text, state: state, firstLogits: text.lastLogits(hidden, device: device),
                                      prompts: prompts, config: g, device: device)
    }
}
