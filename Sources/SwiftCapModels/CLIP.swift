import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// Errors from loading or running CLIP; each names the file, tensor or input at fault.
public enum CLIPError: Error, CustomStringConvertible, Equatable {
    case config(file: String, String)
    case layout(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .config(let file, let detail): return "CLIP config \(file): \(detail)"
        case .layout(let detail): return "CLIP checkpoint: \(detail)"
        case .invalidInput(let detail): return "CLIP: \(detail)"
        }
    }
}

/// Decodes an integer that a config may also write as a one-element list (image_size, eos_token_id).
private func decodeFlexibleInt<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> Int? {
    if let v = try? c.decodeIfPresent(Int.self, forKey: key) { return v }
    return try c.decodeIfPresent([Int].self, forKey: key)?.first
}

/// CLIP vision tower hyper-parameters (Hugging Face `vision_config` keys; missing keys take
/// transformers' defaults, which are ViT-B/32's).
public struct CLIPVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var numChannels = 3
    public var imageSize = 224
    public var patchSize = 32
    public var hiddenAct = "quick_gelu"
    public var layerNormEps: Float = 1e-5

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels", imageSize = "image_size", patchSize = "patch_size"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    public init(hiddenSize: Int = 768, intermediateSize: Int = 3072, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12,
                numChannels: Int = 3, imageSize: Int = 224, patchSize: Int = 32, hiddenAct: String = "quick_gelu",
                layerNormEps: Float = 1e-5) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPVisionConfig()
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? d.numChannels
        imageSize = try decodeFlexibleInt(c, .imageSize) ?? d.imageSize
        patchSize = try decodeFlexibleInt(c, .patchSize) ?? d.patchSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
    }

    /// Patches per side.
    public var grid: Int { imageSize / max(patchSize, 1) }
    /// Tokens: one class token plus grid² patches.
    public var tokens: Int { grid * grid + 1 }

    public func validate(file: String) throws {
        guard hiddenSize > 0, intermediateSize > 0, numHiddenLayers > 0, numAttentionHeads > 0, numChannels > 0,
              patchSize > 0, imageSize >= patchSize else {
            throw CLIPError.config(file: file, "vision sizes must be positive with image_size >= patch_size")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw CLIPError.config(file: file, "vision hidden_size \(hiddenSize) not divisible by \(numAttentionHeads) heads")
        }
        guard imageSize % patchSize == 0 else {
            throw CLIPError.config(file: file, "image_size \(imageSize) is not a multiple of patch_size \(patchSize)")
        }
        guard Activation(configName: hiddenAct) != nil else {
            throw CLIPError.config(file: file, "unknown vision hidden_act '\(hiddenAct)'")
        }
    }

    /// OpenAI's published vision towers.
    public static let vitB32 = CLIPVisionConfig(patchSize: 32)
    public static let vitB16 = CLIPVisionConfig(patchSize: 16)
    public static let vitL14 = CLIPVisionConfig(hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24,
                                                numAttentionHeads: 16, patchSize: 14)
}

/// CLIP text tower hyper-parameters (Hugging Face `text_config` keys, transformers' defaults).
public struct CLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = "quick_gelu"
    public var layerNormEps: Float = 1e-5
    /// The pooled output is taken at the first occurrence of this id; nil or 2 (old configs) means
    /// at the largest id, as the original implementation does.
    public var eosTokenId: Int? = 49407

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps", eosTokenId = "eos_token_id"
    }

    public init(vocabSize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048, numHiddenLayers: Int = 12,
                numAttentionHeads: Int = 8, maxPositionEmbeddings: Int = 77, hiddenAct: String = "quick_gelu",
                layerNormEps: Float = 1e-5, eosTokenId: Int? = 49407) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
        self.eosTokenId = eosTokenId
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        eosTokenId = c.contains(.eosTokenId) ? try decodeFlexibleInt(c, .eosTokenId) : d.eosTokenId
    }

    public func validate(file: String) throws {
        guard vocabSize > 0, hiddenSize > 0, intermediateSize > 0, numHiddenLayers > 0, numAttentionHeads > 0,
              maxPositionEmbeddings > 0 else {
            throw CLIPError.config(file: file, "text sizes must be positive")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw CLIPError.config(file: file, "text hidden_size \(hiddenSize) not divisible by \(numAttentionHeads) heads")
        }
        guard Activation(configName: hiddenAct) != nil else {
            throw CLIPError.config(file: file, "unknown text hidden_act '\(hiddenAct)'")
        }
    }

    /// OpenAI's published text towers (ViT-B models use the first, ViT-L/14 the second).
    public static let base = CLIPTextConfig()
    public static let large = CLIPTextConfig(hiddenSize: 768, intermediateSize: 3072, numAttentionHeads: 12)
}

/// A Hugging Face CLIP `config.json`: either a full `CLIPModel` config (`vision_config`,
/// `text_config`, `projection_dim`) or a vision-only `CLIPVisionModelWithProjection` config.
public struct CLIPConfig: Sendable, Equatable {
    public var vision: CLIPVisionConfig
    public var text: CLIPTextConfig?
    public var projectionDim: Int

    public init(vision: CLIPVisionConfig, text: CLIPTextConfig?, projectionDim: Int) {
        self.vision = vision
        self.text = text
        self.projectionDim = projectionDim
    }

    private struct Full: Decodable {
        var vision_config: CLIPVisionConfig?
        var text_config: CLIPTextConfig?
        var projection_dim: Int?
    }

    public static func load(from url: URL) throws -> CLIPConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CLIPError.config(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        let config: CLIPConfig
        do {
            let full = try JSONDecoder().decode(Full.self, from: data)
            if let vision = full.vision_config {
                config = CLIPConfig(vision: vision, text: full.text_config, projectionDim: full.projection_dim ?? 512)
            } else {
                let vision = try JSONDecoder().decode(CLIPVisionConfig.self, from: data)
                config = CLIPConfig(vision: vision, text: nil, projectionDim: full.projection_dim ?? 512)
            }
        } catch {
            throw CLIPError.config(file: url.path, "not a CLIP config: \(error)")
        }
        try config.vision.validate(file: url.path)
        try config.text?.validate(file: url.path)
        guard config.projectionDim > 0 else { throw CLIPError.config(file: url.path, "projection_dim must be positive") }
        return config
    }
}

/// One pre-norm transformer layer as both CLIP towers use it:
/// `h += out(attn(ln1(h)))`, `h += fc2(act(fc1(ln2(h))))`. q/k/v are held fused as [3d, d].
struct CLIPEncoderLayer: Sendable {
    var ln1Weight, ln1Bias: Tensor
    // Linear weights are fp32 or, from an int8/q4 checkpoint, quantized in memory (see `LinearWeight`).
    var qkvWeight: LinearWeight       // [3d, d]
    var qkvBias: Tensor               // [3d]
    var outWeight: LinearWeight       // [d, d]
    var outBias: Tensor               // [d]
    var ln2Weight, ln2Bias: Tensor
    var fc1Weight: LinearWeight       // [inner, d]
    var fc1Bias: Tensor               // [inner]
    var fc2Weight: LinearWeight       // [d, inner]
    var fc2Bias: Tensor               // [d]

    /// Hugging Face names under `encoder.layers.N`.
    init(huggingFace w: Weights, width d: Int, inner: Int, device: Device) throws {
        ln1Weight = try w.tensor("layer_norm1.weight", shape: [d])
        ln1Bias = try w.tensor("layer_norm1.bias", shape: [d])
        let a = w.pp("self_attn")
        qkvWeight = try LinearWeight.concatenatingOutputs(["q_proj", "k_proj", "v_proj"].map { try a.linearWeight("\($0).weight", out: d, in: d) },
                                                          device: device)
        qkvBias = try device.concat(["q_proj", "k_proj", "v_proj"].map { try a.tensor("\($0).bias", shape: [d]) }, dim: 0)
        outWeight = try a.linearWeight("out_proj.weight", out: d, in: d)
        outBias = try a.tensor("out_proj.bias", shape: [d])
        ln2Weight = try w.tensor("layer_norm2.weight", shape: [d])
        ln2Bias = try w.tensor("layer_norm2.bias", shape: [d])
        fc1Weight = try w.linearWeight("mlp.fc1.weight", out: inner, in: d)
        fc1Bias = try w.tensor("mlp.fc1.bias", shape: [inner])
        fc2Weight = try w.linearWeight("mlp.fc2.weight", out: d, in: inner)
        fc2Bias = try w.tensor("mlp.fc2.bias", shape: [d])
    }

    /// OpenAI names under `transformer.resblocks.N` (fused `attn.in_proj_*`, `mlp.c_fc` / `mlp.c_proj`).
    init(openAI w: Weights, width d: Int, inner: Int) throws {
        ln1Weight = try w.tensor("ln_1.weight", shape: [d])
        ln1Bias = try w.tensor("ln_1.bias", shape: [d])
        qkvWeight = try w.linearWeight("attn.in_proj_weight", out: 3 * d, in: d)
        qkvBias = try w.tensor("attn.in_proj_bias", shape: [3 * d])
        outWeight = try w.linearWeight("attn.out_proj.weight", out: d, in: d)
        outBias = try w.tensor("attn.out_proj.bias", shape: [d])
        ln2Weight = try w.tensor("ln_2.weight", shape: [d])
        ln2Bias = try w.tensor("ln_2.bias", shape: [d])
        fc1Weight = try w.linearWeight("mlp.c_fc.weight", out: inner, in: d)
        fc1Bias = try w.tensor("mlp.c_fc.bias", shape: [inner])
        fc2Weight = try w.linearWeight("mlp.c_proj.weight", out: d, in: inner)
        fc2Bias = try w.tensor("mlp.c_proj.bias", shape: [d])
    }

    /// h: [batch, seq, d] -> [batch, seq, d].
    func forward(_ h: Tensor, heads: Int, causal: Bool, activation: Activation, eps: Float, device: Device) throws -> Tensor {
        let a = try device.layerNorm(h, weight: ln1Weight, bias: ln1Bias, eps: eps)
        let qkv = try device.split(device.linear(a, weight: qkvWeight, bias: qkvBias), parts: 3, dim: 2)
        let attn = try device.scaledDotProductAttention(query: device.splitHeads(qkv[0], heads: heads),
                                                        key: device.splitHeads(qkv[1], heads: heads),
                                                        value: device.splitHeads(qkv[2], heads: heads), causal: causal)
        var x = try device.add(h, device.linear(device.mergeHeads(attn), weight: outWeight, bias: outBias))
        let m = try device.layerNorm(x, weight: ln2Weight, bias: ln2Bias, eps: eps)
        let f = device.activation(try device.linear(m, weight: fc1Weight, bias: fc1Bias), activation)
        x = try device.add(x, device.linear(f, weight: fc2Weight, bias: fc2Bias))
        return x
    }
}

/// Shape of a tensor the checkpoint must contain (for inferring OpenAI configs), or a named error;
/// the rank must be `rank`.
private func requiredShape(_ w: Weights, _ name: String, rank: Int) throws -> [Int] {
    guard let info = w.source.tensorInfo(w.key(name)) else {
        throw WeightError.missing(name: w.key(name), source: w.source.sourceDescription)
    }
    guard info.shape.count == rank, info.shape.allSatisfy({ $0 > 0 }) else {
        throw CLIPError.layout("\(w.key(name)) in \(w.source.sourceDescription) has shape \(info.shape), expected \(rank) positive dimensions")
    }
    return info.shape
}

/// Number of `prefix.N.suffix` entries (N = 0, 1, …) present.
private func countLayers(_ w: Weights, _ prefix: String, _ suffix: String) -> Int {
    var n = 0
    while w.contains("\(prefix).\(n).\(suffix)") { n += 1 }
    return n
}

/// What the vision tower computes for a batch of images.
public struct CLIPVisionOutput: Sendable {
    /// Encoder output for every token (class token first), before `post_layernorm`: [batch, 1 + grid², d].
    public var lastHiddenState: Tensor
    /// `post_layernorm` of the class token: [batch, d].
    public var pooled: Tensor
    /// `pooled` projected to the joint space: [batch, projectionDim] (nil without a projection).
    public var imageEmbeds: Tensor?

    /// The patch tokens only (the image grid features): [batch, grid², d].
    public var gridFeatures: Tensor {
        get throws { try lastHiddenState.narrowed(dim: 1, start: 1, length: lastHiddenState.shape[1] - 1) }
    }
}

/// CLIP's vision transformer (ViT), from the Hugging Face layout (`vision_model.embeddings.…`,
/// `vision_model.encoder.layers.N.…`, `visual_projection`) or the original OpenAI state_dict
/// (`visual.conv1`, `visual.transformer.resblocks.N.…`, `visual.proj`).
public struct CLIPVisionTransformer: Sendable {
    public let config: CLIPVisionConfig
    /// Width of `imageEmbeds` (nil when the checkpoint has no projection).
    public let projectionDim: Int?
    let patchWeight: Tensor          // [d, channels·p·p]
    let classEmbedding: Tensor       // [d]
    let positionEmbedding: Tensor    // [tokens, d]
    let preLNWeight, preLNBias, postLNWeight, postLNBias: Tensor
    let layers: [CLIPEncoderLayer]
    /// Projection weight: [proj, d] (Hugging Face, `linear`) or [d, proj] (OpenAI, `x @ proj`).
    let projection: Tensor?
    let projectionIsInOut: Bool
    let activation: Activation

    /// Hugging Face layout; `weights` is the checkpoint root (holding `vision_model.` and
    /// `visual_projection.weight`, the latter optional).
    public init(huggingFace weights: Weights, config: CLIPVisionConfig, projectionDim: Int?, device: Device) throws {
        try self.init(visionModel: weights.pp("vision_model"), projectionRoot: weights, config: config,
                      projectionDim: projectionDim, device: device)
    }

    /// Hugging Face layout with the `CLIPVisionTransformer` keys (`embeddings.…`, `encoder.layers.N.…`,
    /// `post_layernorm`) directly under `v`, as composite models store it (SmallCap's `encoder.…`);
    /// `projectionRoot` holds `visual_projection.weight` when a projection is wanted.
    public init(visionModel v: Weights, projectionRoot: Weights? = nil, config: CLIPVisionConfig, projectionDim: Int? = nil,
                device: Device) throws {
        try config.validate(file: v.source.sourceDescription)
        self.config = config
        let d = config.hiddenSize, p = config.patchSize, c = config.numChannels
        let e = v.pp("embeddings")
        patchWeight = try e.tensor("patch_embedding.weight", shape: [d, c, p, p]).reshaped([d, c * p * p])
        classEmbedding = try e.tensor("class_embedding", shape: [d])
        positionEmbedding = try e.tensor("position_embedding.weight", shape: [config.tokens, d])
        preLNWeight = try v.tensor("pre_layrnorm.weight", shape: [d])
        preLNBias = try v.tensor("pre_layrnorm.bias", shape: [d])
        layers = try (0..<config.numHiddenLayers).map {
            try CLIPEncoderLayer(huggingFace: v.pp("encoder.layers").pp($0), width: d, inner: config.intermediateSize, device: device)
        }
        postLNWeight = try v.tensor("post_layernorm.weight", shape: [d])
        postLNBias = try v.tensor("post_layernorm.bias", shape: [d])
        if let projectionDim, let weights = projectionRoot, weights.contains("visual_projection.weight") {
            projection = try weights.tensor("visual_projection.weight", shape: [projectionDim, d])
            self.projectionDim = projectionDim
        } else {
            projection = nil
            self.projectionDim = nil
        }
        projectionIsInOut = false
        activation = Activation(configName: config.hiddenAct) ?? .quickGELU
    }

    /// OpenAI layout; the configuration is read off the tensor shapes (heads = width / 64, QuickGELU),
    /// as the original code does. `weights` is the checkpoint root (holding `visual.`).
    public init(openAI weights: Weights) throws {
        let v = weights.pp("visual")
        let conv = try requiredShape(v, "conv1.weight", rank: 4)
        guard conv.count == 4, conv[2] == conv[3], conv[0] % 64 == 0 else {
            throw CLIPError.layout("\(v.key("conv1.weight")) has shape \(conv), expected [width (multiple of 64), 3, patch, patch]")
        }
        let d = conv[0], p = conv[2]
        let positions = try requiredShape(v, "positional_embedding", rank: 2)
        let grid = Int(Double(max(positions[0] - 1, 0)).squareRoot().rounded())
        guard positions[1] == d, grid * grid + 1 == positions[0] else {
            throw CLIPError.layout("\(v.key("positional_embedding")) has shape \(positions), expected [grid² + 1, \(d)]")
        }
        let layerCount = countLayers(v, "transformer.resblocks", "ln_1.weight")
        guard layerCount > 0 else { throw WeightError.missing(name: v.key("transformer.resblocks.0.ln_1.weight"), source: weights.source.sourceDescription) }
        let inner = try requiredShape(v, "transformer.resblocks.0.mlp.c_fc.weight", rank: 2)[0]
        let config = CLIPVisionConfig(hiddenSize: d, intermediateSize: inner, numHiddenLayers: layerCount,
                                      numAttentionHeads: d / 64, numChannels: conv[1], imageSize: grid * p, patchSize: p)
        self.config = config
        patchWeight = try v.tensor("conv1.weight", shape: conv).reshaped([d, conv[1] * p * p])
        classEmbedding = try v.tensor("class_embedding", shape: [d])
        positionEmbedding = try v.tensor("positional_embedding", shape: [config.tokens, d])
        preLNWeight = try v.tensor("ln_pre.weight", shape: [d])
        preLNBias = try v.tensor("ln_pre.bias", shape: [d])
        layers = try (0..<layerCount).map {
            try CLIPEncoderLayer(openAI: v.pp("transformer.resblocks").pp($0), width: d, inner: inner)
        }
        postLNWeight = try v.tensor("ln_post.weight", shape: [d])
        postLNBias = try v.tensor("ln_post.bias", shape: [d])
        (projection, projectionDim) = try openAIProjection(v, "proj", width: d)
        projectionIsInOut = true
        activation = .quickGELU
    }

    /// pixels: [batch, channels, imageSize, imageSize] (already normalised) -> all outputs.
    public func forward(pixels: Tensor, device: Device) throws -> CLIPVisionOutput {
        let c = config.numChannels, s = config.imageSize, p = config.patchSize, g = config.grid, d = config.hiddenSize
        guard pixels.rank == 4, pixels.shape[1] == c, pixels.shape[2] == s, pixels.shape[3] == s else {
            throw CLIPError.invalidInput("pixels must be [batch, \(c), \(s), \(s)], got \(pixels.shape)")
        }
        let b = pixels.shape[0]
        // The stride-p patch convolution as one GEMM: [b, g·g, c·p·p] @ weightᵀ.
        let patches = try pixels.reshaped([b, c, g, p, g, p]).permuted([0, 2, 4, 1, 3, 5]).contiguous()
            .reshaped([b, g * g, c * p * p])
        let patchEmbeds = try device.linear(patches, weight: patchWeight)                  // [b, g², d]
        let cls = try classEmbedding.reshaped([1, 1, d])
        let clsRows = try device.add(Tensor(zeros: [b, 1, d]), cls)
        var h = try device.add(device.concat([clsRows, patchEmbeds], dim: 1), positionEmbedding)
        h = try device.layerNorm(h, weight: preLNWeight, bias: preLNBias, eps: config.layerNormEps)
        for layer in layers {
            h = try layer.forward(h, heads: config.numAttentionHeads, causal: false, activation: activation,
                                  eps: config.layerNormEps, device: device)
        }
        let first = try h.narrowed(dim: 1, start: 0, length: 1).reshaped([b, d])
        let pooled = try device.layerNorm(first, weight: postLNWeight, bias: postLNBias, eps: config.layerNormEps)
        var embeds: Tensor? = nil
        if let projection {
            embeds = projectionIsInOut ? try device.linear(pooled, weightInOut: projection) : try device.linear(pooled, weight: projection)
        }
        return CLIPVisionOutput(lastHiddenState: h, pooled: pooled, imageEmbeds: embeds)
    }
}

/// What the text tower computes for a batch of token sequences.
public struct CLIPTextOutput: Sendable {
    /// After `final_layer_norm`: [batch, seq, d].
    public var lastHiddenState: Tensor
    /// The hidden state at each sequence's end-of-text token: [batch, d].
    public var pooled: Tensor
    /// `pooled` projected to the joint space: [batch, projectionDim] (nil without a projection).
    public var textEmbeds: Tensor?
}

/// CLIP's causal text transformer, Hugging Face (`text_model.…`, `text_projection`) or OpenAI
/// (`token_embedding`, `transformer.resblocks.N.…`, `ln_final`, `text_projection`) layout.
public struct CLIPTextTransformer: Sendable {
    public let config: CLIPTextConfig
    public let projectionDim: Int?
    let tokenEmbedding: Tensor      // [vocab, d]
    let positionEmbedding: Tensor   // [positions, d]
    let layers: [CLIPEncoderLayer]
    let finalLNWeight, finalLNBias: Tensor
    let projection: Tensor?         // [proj, d] (HF) or [d, proj] (OpenAI)
    let projectionIsInOut: Bool
    let activation: Activation

    public init(huggingFace weights: Weights, config: CLIPTextConfig, projectionDim: Int?, device: Device) throws {
        try config.validate(file: weights.source.sourceDescription)
        self.config = config
        let d = config.hiddenSize
        let t = weights.pp("text_model")
        tokenEmbedding = try t.tensor("embeddings.token_embedding.weight", shape: [config.vocabSize, d])
        positionEmbedding = try t.tensor("embeddings.position_embedding.weight", shape: [config.maxPositionEmbeddings, d])
        layers = try (0..<config.numHiddenLayers).map {
            try CLIPEncoderLayer(huggingFace: t.pp("encoder.layers").pp($0), width: d, inner: config.intermediateSize, device: device)
        }
        finalLNWeight = try t.tensor("final_layer_norm.weight", shape: [d])
        finalLNBias = try t.tensor("final_layer_norm.bias", shape: [d])
        if let projectionDim, weights.contains("text_projection.weight") {
            projection = try weights.tensor("text_projection.weight", shape: [projectionDim, d])
            self.projectionDim = projectionDim
        } else {
            projection = nil
            self.projectionDim = nil
        }
        projectionIsInOut = false
        activation = Activation(configName: config.hiddenAct) ?? .quickGELU
    }

    /// OpenAI layout, configuration read off the shapes (heads = width / 64); pooling at the largest id.
    public init(openAI weights: Weights) throws {
        let tok = try requiredShape(weights, "token_embedding.weight", rank: 2)
        guard tok.count == 2, tok[1] % 64 == 0 else {
            throw CLIPError.layout("token_embedding.weight has shape \(tok), expected [vocab, width (multiple of 64)]")
        }
        let d = tok[1]
        let positions = try requiredShape(weights, "positional_embedding", rank: 2)
        let layerCount = countLayers(weights, "transformer.resblocks", "ln_1.weight")
        guard layerCount > 0 else { throw WeightError.missing(name: "transformer.resblocks.0.ln_1.weight", source: weights.source.sourceDescription) }
        let inner = try requiredShape(weights, "transformer.resblocks.0.mlp.c_fc.weight", rank: 2)[0]
        config = CLIPTextConfig(vocabSize: tok[0], hiddenSize: d, intermediateSize: inner, numHiddenLayers: layerCount,
                                numAttentionHeads: d / 64, maxPositionEmbeddings: positions[0], eosTokenId: nil)
        tokenEmbedding = try weights.tensor("token_embedding.weight", shape: tok)
        positionEmbedding = try weights.tensor("positional_embedding", shape: [positions[0], d])
        layers = try (0..<layerCount).map {
            try CLIPEncoderLayer(openAI: weights.pp("transformer.resblocks").pp($0), width: d, inner: inner)
        }
        finalLNWeight = try weights.tensor("ln_final.weight", shape: [d])
        finalLNBias = try weights.tensor("ln_final.bias", shape: [d])
        (projection, projectionDim) = try openAIProjection(weights, "text_projection", width: d)
        projectionIsInOut = true
        activation = .quickGELU
    }

    /// ids: equally long rows of token ids (each containing its end-of-text token) -> all outputs.
    public func forward(ids: [[Int]], device: Device) throws -> CLIPTextOutput {
        guard let seq = ids.first?.count, seq > 0, ids.allSatisfy({ $0.count == seq }) else {
            throw CLIPError.invalidInput("token rows must be non-empty and equally long, got lengths \(ids.map(\.count))")
        }
        guard seq <= config.maxPositionEmbeddings else {
            throw CLIPError.invalidInput("\(seq) tokens exceed the \(config.maxPositionEmbeddings) positions")
        }
        let b = ids.count, d = config.hiddenSize
        let tokens = try device.embedding(ids.flatMap { $0 }, table: tokenEmbedding, shape: [b, seq])
        var h = try device.add(tokens, positionEmbedding.narrowed(dim: 0, start: 0, length: seq))
        for layer in layers {
            h = try layer.forward(h, heads: config.numAttentionHeads, causal: true, activation: activation,
                                  eps: config.layerNormEps, device: device)
        }
        h = try device.layerNorm(h, weight: finalLNWeight, bias: finalLNBias, eps: config.layerNormEps)
        // Pool at the end-of-text token: first occurrence of eos_token_id, or the largest id
        // (original CLIP, and transformers for old configs whose eos_token_id is 2).
        var rows: [Int] = []
        for (i, row) in ids.enumerated() {
            let position: Int
            if let eos = config.eosTokenId, eos != 2 {
                guard let p = row.firstIndex(of: eos) else {
                    throw CLIPError.invalidInput("row \(i) has no end-of-text token \(eos)")
                }
                position = p
            } else {
                position = row.indices.max { row[$0] < row[$1] } ?? 0
            }
            rows.append(i * seq + position)
        }
        let pooled = try device.indexSelect(h.reshaped([b * seq, d]), dim: 0, indices: rows)
        var embeds: Tensor? = nil
        if let projection {
            embeds = projectionIsInOut ? try device.linear(pooled, weightInOut: projection) : try device.linear(pooled, weight: projection)
        }
        return CLIPTextOutput(lastHiddenState: h, pooled: pooled, textEmbeds: embeds)
    }
}

/// Both CLIP towers loaded from one checkpoint.
public struct CLIP: Sendable {
    public var vision: CLIPVisionTransformer
    /// nil for vision-only checkpoints.
    public var text: CLIPTextTransformer?

    /// A Hugging Face model directory: `config.json` + `model.safetensors`.
    public init(directory: URL, device: Device) throws {
        let config = try CLIPConfig.load(from: directory.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        try self.init(huggingFace: Weights(file), config: config, device: device)
    }

    public init(huggingFace weights: Weights, config: CLIPConfig, device: Device) throws {
        vision = try CLIPVisionTransformer(huggingFace: weights, config: config.vision, projectionDim: config.projectionDim, device: device)
        text = try config.text.map {
            try CLIPTextTransformer(huggingFace: weights, config: $0, projectionDim: config.projectionDim, device: device)
        }
    }

    /// An OpenAI state_dict (as converted to safetensors); the text tower loads when present.
    public init(openAI weights: Weights) throws {
        vision = try CLIPVisionTransformer(openAI: weights)
        text = weights.contains("token_embedding.weight") ? try CLIPTextTransformer(openAI: weights) : nil
    }

    /// Unit-length image embeddings: pixels [batch, c, s, s] -> [batch, projectionDim].
    public func imageEmbeddings(pixels: Tensor, device: Device) throws -> Tensor {
        guard let e = try vision.forward(pixels: pixels, device: device).imageEmbeds else {
            throw CLIPError.layout("the checkpoint has no visual projection")
        }
        return try device.l2Normalize(e)
    }

    /// Unit-length text embeddings: ids [[Int]] -> [batch, projectionDim].
    public func textEmbeddings(ids: [[Int]], device: Device) throws -> Tensor {
        guard let text else { throw CLIPError.layout("the checkpoint has no text tower") }
        guard let e = try text.forward(ids: ids, device: device).textEmbeds else {
            throw CLIPError.layout("the checkpoint has no text projection")
        }
        return try device.l2Normalize(e)
    }
}

/// An optional OpenAI-layout projection `name` stored [width, out] (`visual.proj`, `text_projection`):
/// the tensor and its output size, or (nil, nil) when the checkpoint has none.
private func openAIProjection(_ weights: Weights, _ name: String, width d: Int) throws -> (Tensor?, Int?) {
    guard weights.contains(name) else { return (nil, nil) }
    let shape = try requiredShape(weights, name, rank: 2)
    guard shape.count == 2, shape[0] == d else {
        throw WeightError.shapeMismatch(name: weights.key(name), expected: [d, shape.last ?? -1], actual: shape,
                                        source: weights.source.sourceDescription)
    }
    return (try weights.tensor(name, shape: shape), shape[1])
}
