import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// Errors from loading or running GPT-2; each names the file or the input at fault.
public enum GPT2Error: Error, CustomStringConvertible, Equatable {
    case config(file: String, String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .config(let file, let detail): return "GPT-2 config \(file): \(detail)"
        case .invalidInput(let detail): return "GPT-2: \(detail)"
        }
    }
}

/// GPT-2 hyper-parameters, read from a Hugging Face `config.json` (keys as transformers writes them).
public struct GPT2Config: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var nPositions: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    /// MLP width; nil means 4 · nEmbd (as transformers does).
    public var nInner: Int?
    public var layerNormEpsilon: Float
    /// transformers' `activation_function` ("gelu_new" for every published GPT-2).
    public var activationFunction: String
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case nPositions = "n_positions"
        case nEmbd = "n_embd"
        case nLayer = "n_layer"
        case nHead = "n_head"
        case nInner = "n_inner"
        case layerNormEpsilon = "layer_norm_epsilon"
        case activationFunction = "activation_function"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
    }

    public init(vocabSize: Int = 50257, nPositions: Int = 1024, nEmbd: Int = 768, nLayer: Int = 12, nHead: Int = 12,
                nInner: Int? = nil, layerNormEpsilon: Float = 1e-5, activationFunction: String = "gelu_new",
                bosTokenId: Int? = 50256, eosTokenId: Int? = 50256) {
        self.vocabSize = vocabSize
        self.nPositions = nPositions
        self.nEmbd = nEmbd
        self.nLayer = nLayer
        self.nHead = nHead
        self.nInner = nInner
        self.layerNormEpsilon = layerNormEpsilon
        self.activationFunction = activationFunction
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        nPositions = try c.decode(Int.self, forKey: .nPositions)
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nInner = try c.decodeIfPresent(Int.self, forKey: .nInner)
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-5
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? "gelu_new"
        // transformers allows a single id or a list for these.
        func tokenId(_ key: CodingKeys) throws -> Int? {
            if let v = try? c.decodeIfPresent(Int.self, forKey: key) { return v }
            return try c.decodeIfPresent([Int].self, forKey: key)?.first
        }
        bosTokenId = try tokenId(.bosTokenId)
        eosTokenId = try tokenId(.eosTokenId)
    }

    /// Reads and validates `config.json`.
    public static func load(from url: URL) throws -> GPT2Config {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw GPT2Error.config(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        let config: GPT2Config
        do { config = try JSONDecoder().decode(GPT2Config.self, from: data) } catch {
            throw GPT2Error.config(file: url.path, "not a GPT-2 config: \(error)")
        }
        try config.validate(file: url.path)
        return config
    }

    public var innerDim: Int { nInner ?? 4 * nEmbd }
    public var headDim: Int { nEmbd / max(nHead, 1) }

    public func validate(file: String = "config") throws {
        guard vocabSize > 0, nPositions > 0, nEmbd > 0, nLayer > 0, nHead > 0, innerDim > 0 else {
            throw GPT2Error.config(file: file, "sizes must be positive (vocab \(vocabSize), positions \(nPositions), n_embd \(nEmbd), n_layer \(nLayer), n_head \(nHead))")
        }
        guard nEmbd % nHead == 0 else {
            throw GPT2Error.config(file: file, "n_embd \(nEmbd) is not divisible by n_head \(nHead)")
        }
        guard Activation(configName: activationFunction) != nil else {
            throw GPT2Error.config(file: file, "unknown activation_function '\(activationFunction)'")
        }
    }
}

/// GPT-2 language model in the Hugging Face `GPT2LMHeadModel` layout (`transformer.wte`, `wpe`,
/// `h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}`, `ln_f`; `lm_head` tied to
/// `wte` unless the checkpoint stores its own). Checkpoints without the `transformer.` prefix
/// (the original `GPT2Model` export) load too. Conv1D weights are stored [in, out]; they are
/// transposed once at load to [out, in] so decoding steps can use `linear`'s weight-streaming path.
///
/// Quantized checkpoints (`swiftcap quantize --to int8|q4`, read through `QuantizedCheckpoint`) stay
/// quantized in memory: every matrix the file stores int8/q4 (Conv1D weights in their stored [in, out]
/// layout, `wte`/`wpe`/`lm_head` as [rows, d]) is bound as a `LinearWeight` and dequantized on the fly
/// by the kernels (`Device.linear(_:weight:bias:)`, `Device.embedding(_:table:)`).
public struct GPT2: Sendable {
    struct Block: Sendable {
        var ln1Weight, ln1Bias: Tensor          // [d]
        var attnWeight: LinearWeight            // d -> 3d
        var attnBias: Tensor                    // [3d]
        var attnProjWeight: LinearWeight        // d -> d
        var attnProjBias: Tensor                // [d]
        var ln2Weight, ln2Bias: Tensor          // [d]
        var fcWeight: LinearWeight              // d -> inner
        var fcBias: Tensor                      // [inner]
        var mlpProjWeight: LinearWeight         // inner -> d
        var mlpProjBias: Tensor                 // [d]
    }

    public let config: GPT2Config
    /// Token embeddings: [vocab, d] (fp32 or quantized per row).
    public let wte: LinearWeight
    /// Position embeddings: [positions, d].
    public let wpe: LinearWeight
    let blocks: [Block]
    let lnFWeight, lnFBias: Tensor
    /// Output projection [vocab, d] (the same tensor as `wte` when tied).
    let lmHead: LinearWeight
    /// Whether `lmHead` is `wte` (no `lm_head.weight` in the checkpoint).
    let lmHeadTied: Bool
    let activation: Activation

    /// Binds every tensor by its checkpoint name, checking shapes against `config`.
    /// `weights` is the checkpoint root; the `transformer.` prefix is detected.
    public init(config: GPT2Config, weights: Weights) throws {
        try config.validate()
        self.config = config
        self.activation = Activation(configName: config.activationFunction) ?? .geluTanh
        let d = config.nEmbd, inner = config.innerDim
        let t = weights.contains("transformer.wte.weight") ? weights.pp("transformer") : weights
        wte = try t.linearWeight("wte.weight", out: config.vocabSize, in: d)
        wpe = try t.linearWeight("wpe.weight", out: config.nPositions, in: d)
        var blocks: [Block] = []
        for i in 0..<config.nLayer {
            let h = t.pp("h").pp(i)
            /// A Conv1D weight [in, out]: quantized as stored, or a contiguous fp32 [out, in] copy.
            func conv1D(_ name: String, _ inF: Int, _ outF: Int) throws -> LinearWeight {
                try h.conv1DWeight(name, in: inF, out: outF)
            }
            blocks.append(Block(
                ln1Weight: try h.tensor("ln_1.weight", shape: [d]), ln1Bias: try h.tensor("ln_1.bias", shape: [d]),
                attnWeight: try conv1D("attn.c_attn.weight", d, 3 * d),
                attnBias: try h.tensor("attn.c_attn.bias", shape: [3 * d]),
                attnProjWeight: try conv1D("attn.c_proj.weight", d, d),
                attnProjBias: try h.tensor("attn.c_proj.bias", shape: [d]),
                ln2Weight: try h.tensor("ln_2.weight", shape: [d]), ln2Bias: try h.tensor("ln_2.bias", shape: [d]),
                fcWeight: try conv1D("mlp.c_fc.weight", d, inner),
                fcBias: try h.tensor("mlp.c_fc.bias", shape: [inner]),
                mlpProjWeight: try conv1D("mlp.c_proj.weight", inner, d),
                mlpProjBias: try h.tensor("mlp.c_proj.bias", shape: [d])))
        }
        self.blocks = blocks
        lnFWeight = try t.tensor("ln_f.weight", shape: [d])
        lnFBias = try t.tensor("ln_f.bias", shape: [d])
        lmHeadTied = !weights.contains("lm_head.weight")
        lmHead = lmHeadTied ? wte : try weights.linearWeight("lm_head.weight", out: config.vocabSize, in: d)
    }

    /// Loads `config.json` and `model.safetensors` from a Hugging Face model directory.
    public init(directory: URL) throws {
        let config = try GPT2Config.load(from: directory.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        try self.init(config: config, weights: Weights(file))
    }

    /// Bytes the weights occupy in memory (quantized matrices at their quantized size; a tied
    /// `lm_head` counted once).
    public var weightBytes: Int {
        var n = wte.memoryBytes + wpe.memoryBytes + (lnFWeight.count + lnFBias.count) * 4
        if !lmHeadTied { n += lmHead.memoryBytes }
        for b in blocks {
            n += b.attnWeight.memoryBytes + b.attnProjWeight.memoryBytes + b.fcWeight.memoryBytes + b.mlpProjWeight.memoryBytes
            n += (b.ln1Weight.count + b.ln1Bias.count + b.ln2Weight.count + b.ln2Bias.count + b.attnBias.count
                  + b.attnProjBias.count + b.fcBias.count + b.mlpProjBias.count) * 4
        }
        return n
    }

    /// An empty KV cache sized for this model.
    public func makeCache() -> KVCache { KVCache(layers: config.nLayer) }

    /// Token embeddings (without positions) for equally long rows of ids: -> [batch, seq, d].
    public func embed(_ ids: [[Int]], device: Device) throws -> Tensor {
        guard let seq = ids.first?.count, ids.allSatisfy({ $0.count == seq }) else {
            throw GPT2Error.invalidInput("token rows must be non-empty and equally long, got lengths \(ids.map(\.count))")
        }
        return try device.embedding(ids.flatMap { $0 }, table: wte, shape: [ids.count, seq])
    }

    /// Runs the transformer on input embeddings that follow the positions already in `cache`, appending
    /// their keys/values to it. embeddings: [batch, seq, d] -> final hidden states (after `ln_f`) [batch, seq, d].
    ///
    /// `leftPadding` (first call only, one count per row) marks each row's first positions as
    /// padding, as a left-padded batch with transformers' `attention_mask`: padded keys are masked
    /// and positions count from each row's first real token. The cache remembers it for later steps.
    ///
    /// `afterAttention(layer, h)`, when given, runs in every block between the self-attention
    /// residual and `ln_2` (where a cross-attention sub-block goes, as transformers'
    /// `add_cross_attention`); it returns the new residual stream h: [batch, seq, d].
    public func hiddenStates(embeddings: Tensor, cache: inout KVCache, leftPadding: [Int]? = nil,
                             afterAttention: ((Int, Tensor) throws -> Tensor)? = nil, device: Device) throws -> Tensor {
        let d = config.nEmbd
        guard embeddings.rank == 3, embeddings.shape[2] == d, embeddings.shape[1] > 0 else {
            throw GPT2Error.invalidInput("embeddings must be [batch, seq, \(d)], got \(embeddings.shape)")
        }
        guard cache.layerCount == config.nLayer else {
            throw GPT2Error.invalidInput("cache has \(cache.layerCount) layers, model has \(config.nLayer)")
        }
        let batch = embeddings.shape[0], seq = embeddings.shape[1], past = cache.length
        guard past + seq <= config.nPositions else {
            throw GPT2Error.invalidInput("\(past) cached + \(seq) new positions exceed n_positions \(config.nPositions)")
        }
        if let leftPadding {
            guard past == 0 else {
                throw GPT2Error.invalidInput("left padding can only be given with the first input, not after \(past) cached positions")
            }
            guard leftPadding.count == batch, leftPadding.allSatisfy({ (0..<seq).contains($0) }) else {
                throw GPT2Error.invalidInput("left padding \(leftPadding) for \(batch) rows of \(seq) positions")
            }
            cache.leftPadding = leftPadding.allSatisfy({ $0 == 0 }) ? nil : leftPadding
        }
        var mask: Tensor? = nil
        var h: Tensor
        if let pad = cache.leftPadding {
            guard pad.count == batch else {
                throw GPT2Error.invalidInput("cache holds left padding for \(pad.count) rows, input has \(batch)")
            }
            // Positions count real tokens (transformers: cumsum(attention_mask) - 1, padding at 1).
            var ids: [Int] = []
            for r in 0..<batch {
                for i in past..<(past + seq) { ids.append(i < pad[r] ? 1 : i - pad[r]) }
            }
            h = try device.add(embeddings, device.embedding(ids, table: wpe, shape: [batch, seq]))
            mask = try device.paddingMask(lengths: pad.map { past + seq - $0 }, keys: past + seq, leftPadded: true)
        } else {
            let positions = try device.embedding(Array(past..<(past + seq)), table: wpe)  // [seq, d]
            h = try device.add(embeddings, positions)
        }
        for (i, block) in blocks.enumerated() {
            let a = try device.layerNorm(h, weight: block.ln1Weight, bias: block.ln1Bias, eps: config.layerNormEpsilon)
            let qkv = try device.linear(a, weight: block.attnWeight, bias: block.attnBias)  // [b, s, 3d]
            let parts = try device.split(qkv, parts: 3, dim: 2)
            let q = try device.splitHeads(parts[0], heads: config.nHead)
            let k = try device.splitHeads(parts[1], heads: config.nHead)
            let v = try device.splitHeads(parts[2], heads: config.nHead)
            let kv = try cache.append(layer: i, keys: k, values: v)
            let attn = try device.scaledDotProductAttention(query: q, cached: kv, mask: mask, causal: true)
            let merged = try device.mergeHeads(attn)
            h = try device.add(h, device.linear(merged, weight: block.attnProjWeight, bias: block.attnProjBias))
            if let afterAttention { h = try afterAttention(i, h) }
            let m = try device.layerNorm(h, weight: block.ln2Weight, bias: block.ln2Bias, eps: config.layerNormEpsilon)
            let fc = device.activation(try device.linear(m, weight: block.fcWeight, bias: block.fcBias), activation)
            h = try device.add(h, device.linear(fc, weight: block.mlpProjWeight, bias: block.mlpProjBias))
        }
        return try device.layerNorm(h, weight: lnFWeight, bias: lnFBias, eps: config.layerNormEpsilon)
    }

    /// Final hidden states for token ids (equally long rows) after the cached positions: -> [batch, seq, d].
    public func hiddenStates(ids: [[Int]], cache: inout KVCache, leftPadding: [Int]? = nil, device: Device) throws -> Tensor {
        try hiddenStates(embeddings: embed(ids, device: device), cache: &cache, leftPadding: leftPadding, device: device)
    }

    /// Vocabulary logits: hidden [..., d] -> [..., vocab].
    public func logits(_ hidden: Tensor, device: Device) throws -> Tensor {
        try device.linear(hidden, weight: lmHead)
    }

    /// Logits of the last position of each row: hidden [batch, seq, d] -> [batch, vocab].
    public func lastLogits(_ hidden: Tensor, device: Device) throws -> Tensor {
        guard hidden.rank == 3, hidden.shape[1] > 0 else {
            throw GPT2Error.invalidInput("hidden states must be [batch, seq, d], got \(hidden.shape)")
        }
        let last = try hidden.narrowed(dim: 1, start: hidden.shape[1] - 1, length: 1)
        return try logits(last, device: device).reshaped([hidden.shape[0], config.vocabSize])
    }
}

extension GPT2: CachedTokenDecoder {
    public var vocabularySize: Int { config.vocabSize }
}

extension GPT2 {
    /// Continues a prefix of input embeddings [batch, prefix, d] (ClipCap-style), optionally
    /// followed by the same prompt ids for every row. Returns each row's new tokens.
    public func generate(prefix: Tensor, promptIds: [Int] = [], config: GenerationConfig, device: Device) throws -> [[Int]] {
        guard prefix.rank == 3 else {
            throw GPT2Error.invalidInput("prefix embeddings must be [batch, prefix, \(self.config.nEmbd)], got \(prefix.shape)")
        }
        var embeddings = prefix
        let rows = Array(repeating: promptIds, count: prefix.shape[0])
        if !promptIds.isEmpty { embeddings = try device.concat([prefix, embed(rows, device: device)], dim: 1) }
        var cache = makeCache()
        let hidden = try hiddenStates(embeddings: embeddings, cache: &cache, device: device)
        return try Generator.generate(self, state: cache, firstLogits: lastLogits(hidden, device: device), prompts: rows,
                                      config: config, device: device)
    }
}
