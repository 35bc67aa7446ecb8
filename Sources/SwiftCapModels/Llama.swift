import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// Errors from loading or running a Llama model; each names the file, tensor or input at fault.
public enum LlamaError: Error, CustomStringConvertible, Equatable {
    case config(file: String, String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .config(let file, let detail): return "Llama config \(file): \(detail)"
        case .invalidInput(let detail): return "Llama: \(detail)"
        }
    }
}

/// Llama hyper-parameters, as GGUF stores them under `llama.*`.
public struct LlamaConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var ffnDim: Int
    public var contextLength: Int
    public var ropeFreqBase: Float
    public var rmsEps: Float

    public init(vocabSize: Int, dim: Int, layers: Int, heads: Int, kvHeads: Int, ffnDim: Int, contextLength: Int,
                ropeFreqBase: Float = 10_000, rmsEps: Float = 1e-5) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.ffnDim = ffnDim
        self.contextLength = contextLength
        self.ropeFreqBase = ropeFreqBase
        self.rmsEps = rmsEps
    }

    public var headDim: Int { dim / max(heads, 1) }

    /// Reads `llama.*` metadata of a GGUF file (architecture must be "llama"). The vocabulary size
    /// falls back to the length of `tokenizer.ggml.tokens`, then to `token_embd.weight`'s rows.
    public init(gguf g: GGUFFile) throws {
        let file = g.sourceDescription
        guard g.architecture == "llama" else {
            throw LlamaError.config(file: file, "general.architecture is \(g.architecture ?? "missing"), expected llama")
        }
        func int(_ key: String) throws -> Int {
            guard let v = g.value("llama." + key)?.intValue else { throw LlamaError.config(file: file, "missing integer llama.\(key)") }
            return v
        }
        let dim = try int("embedding_length"), heads = try int("attention.head_count")
        let vocab = g.value("llama.vocab_size")?.intValue
            ?? g.value("tokenizer.ggml.tokens")?.arrayValue?.count
            ?? g.entry("token_embd.weight")?.shape.first
        guard let vocab else { throw LlamaError.config(file: file, "no llama.vocab_size, tokenizer tokens or token_embd.weight") }
        self.init(vocabSize: vocab, dim: dim, layers: try int("block_count"), heads: heads,
                  kvHeads: g.value("llama.attention.head_count_kv")?.intValue ?? heads,
                  ffnDim: try int("feed_forward_length"),
                  contextLength: g.value("llama.context_length")?.intValue ?? 2048,
                  ropeFreqBase: Float(g.value("llama.rope.freq_base")?.doubleValue ?? 10_000),
                  rmsEps: Float(g.value("llama.attention.layer_norm_rms_epsilon")?.doubleValue ?? 1e-5))
        if let ropeDims = g.value("llama.rope.dimension_count")?.intValue, ropeDims != headDim {
            throw LlamaError.config(file: file, "partial rotary embedding (rope.dimension_count \(ropeDims), head dim \(headDim)) is not supported")
        }
        try validate(file: file)
    }

    public func validate(file: String = "config") throws {
        guard vocabSize > 0, dim > 0, layers > 0, heads > 0, kvHeads > 0, ffnDim > 0, contextLength > 0 else {
            throw LlamaError.config(file: file, "sizes must be positive (vocab \(vocabSize), dim \(dim), layers \(layers), heads \(heads)/\(kvHeads), ffn \(ffnDim))")
        }
        guard dim % heads == 0, headDim % 2 == 0, heads % kvHeads == 0 else {
            throw LlamaError.config(file: file, "dim \(dim) / heads \(heads) must give an even head size and heads must be a multiple of kv heads \(kvHeads)")
        }
        guard ropeFreqBase > 0, rmsEps >= 0 else {
            throw LlamaError.config(file: file, "rope.freq_base \(ropeFreqBase) and rms eps \(rmsEps) out of range")
        }
    }
}

/// Llama decoder (RMSNorm, rotary positions, grouped-query attention, SwiGLU MLP) with weights in
/// GGUF naming: `token_embd`, `blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
/// ffn_gate, ffn_up, ffn_down}`, `output_norm`, and `output` (tied to `token_embd` when absent).
///
/// Rotary convention: llama.cpp's converter permutes the rows of `attn_q`/`attn_k` within each
/// head, from Hugging Face's [first half | second half] to interleaved pairs
/// (row 2i ← HF row i, row 2i+1 ← HF row i + headDim/2), and applies RoPE to adjacent pairs
/// (x[2i], x[2i+1]) with frequency base^(−2i/headDim). That is the same function as HF's
/// `rotate_half` on unpermuted weights, so this model rotates adjacent pairs of GGUF-layout q/k.
public struct Llama: Sendable {
    struct Block: Sendable {
        var attnNorm: Tensor       // [d]
        var wq: Tensor             // [heads·hd, d]
        var wk, wv: Tensor         // [kvHeads·hd, d]
        var wo: Tensor             // [d, heads·hd]
        var ffnNorm: Tensor        // [d]
        var wGate, wUp: Tensor     // [ffn, d]
        var wDown: Tensor          // [d, ffn]
    }

    public let config: LlamaConfig
    /// Token embeddings: [vocab, d].
    public let tokenEmbedding: Tensor
    let blocks: [Block]
    let outputNorm: Tensor
    /// Output projection [vocab, d] (the embedding table when tied).
    let output: Tensor
    /// cos/sin tables [contextLength, headDim/2] of the rotary embedding.
    let ropeCos: [Float], ropeSin: [Float]

    /// Binds every tensor by its GGUF name (quantized tensors are dequantized to fp32 here).
    public init(config: LlamaConfig, weights: Weights) throws {
        try config.validate()
        self.config = config
        let d = config.dim, hd = config.headDim, ffn = config.ffnDim
        tokenEmbedding = try weights.tensor("token_embd.weight", shape: [config.vocabSize, d])
        var blocks: [Block] = []
        for i in 0..<config.layers {
            let b = weights.pp("blk").pp(i)
            blocks.append(Block(
                attnNorm: try b.tensor("attn_norm.weight", shape: [d]),
                wq: try b.tensor("attn_q.weight", shape: [config.heads * hd, d]),
                wk: try b.tensor("attn_k.weight", shape: [config.kvHeads * hd, d]),
                wv: try b.tensor("attn_v.weight", shape: [config.kvHeads * hd, d]),
                wo: try b.tensor("attn_output.weight", shape: [d, config.heads * hd]),
                ffnNorm: try b.tensor("ffn_norm.weight", shape: [d]),
                wGate: try b.tensor("ffn_gate.weight", shape: [ffn, d]),
                wUp: try b.tensor("ffn_up.weight", shape: [ffn, d]),
                wDown: try b.tensor("ffn_down.weight", shape: [d, ffn])))
        }
        self.blocks = blocks
        outputNorm = try weights.tensor("output_norm.weight", shape: [d])
        output = weights.contains("output.weight") ? try weights.tensor("output.weight", shape: [config.vocabSize, d]) : tokenEmbedding
        let half = hd / 2
        var cosT = [Float](repeating: 0, count: config.contextLength * half)
        var sinT = cosT
        for i in 0..<half {
            // Computed in Double, then rounded, as inv_freq · position in fp32 drifts at long positions.
            let invFreq = 1.0 / pow(Double(config.ropeFreqBase), Double(2 * i) / Double(hd))
            let invFreq32 = Double(Float(invFreq))
            for p in 0..<config.contextLength {
                let angle = Double(Float(Double(p) * invFreq32))
                cosT[p * half + i] = Float(cos(angle))
                sinT[p * half + i] = Float(sin(angle))
            }
        }
        ropeCos = cosT
        ropeSin = sinT
    }

    /// Loads a Llama GGUF file: config from its metadata, weights from its tensors.
    public init(gguf: GGUFFile) throws {
        try self.init(config: LlamaConfig(gguf: gguf), weights: Weights(gguf))
    }

    /// An empty KV cache sized for this model.
    public func makeCache() -> KVCache { KVCache(layers: config.layers) }

    /// Rotates adjacent pairs of every head: x [batch, seq, heads·hd] at positions start..<start+seq -> same shape.
    func rotary(_ x: Tensor, heads: Int, start: Int, device: Device) throws -> Tensor {
        let b = x.shape[0], s = x.shape[1], hd = config.headDim, half = hd / 2
        guard x.shape[2] == heads * hd, start + s <= config.contextLength else {
            throw LlamaError.invalidInput("rotary input \(x.shape) at position \(start) (heads \(heads), context \(config.contextLength))")
        }
        let src = x.contiguous()
        let out = Tensor(zeros: x.shape)
        let sp = src.contiguousPointer, op = out.contiguousPointer
        ropeCos.withUnsafeBufferPointer { cosT in
            ropeSin.withUnsafeBufferPointer { sinT in
                device.parallelFor(b * s, costPerItem: heads * hd) { lo, hi in
                    for row in lo..<hi {
                        let pos = start + row % s
                        for h in 0..<heads {
                            let base = row * heads * hd + h * hd
                            for i in 0..<half {
                                let c = cosT[pos * half + i], sn = sinT[pos * half + i]
                                let x0 = sp[base + 2 * i], x1 = sp[base + 2 * i + 1]
                                op[base + 2 * i] = x0 * c - x1 * sn
                                op[base + 2 * i + 1] = x0 * sn + x1 * c
                            }
                        }
                    }
                }
            }
        }
        withExtendedLifetime((src.storage, out.storage)) {}
        return out
    }

    /// Runs the decoder on token ids (equally long rows) after the positions in `cache`, appending
    /// their keys/values. ids: [batch][seq] -> final hidden states (after `output_norm`) [batch, seq, d].
    /// Left padding is not supported (the chat prompts are one row).
    public func hiddenStates(ids: [[Int]], cache: inout KVCache, leftPadding: [Int]? = nil, device: Device) throws -> Tensor {
        if let leftPadding, leftPadding.contains(where: { $0 != 0 }) {
            throw LlamaError.invalidInput("left-padded rows are not supported; pass equally long rows")
        }
        guard let seq = ids.first?.count, seq > 0, ids.allSatisfy({ $0.count == seq }) else {
            throw LlamaError.invalidInput("token rows must be non-empty and equally long, got lengths \(ids.map(\.count))")
        }
        for row in ids { for t in row where t < 0 || t >= config.vocabSize {
            throw LlamaError.invalidInput("token id \(t) outside vocabulary 0..<\(config.vocabSize)")
        } }
        guard cache.layerCount == config.layers else {
            throw LlamaError.invalidInput("cache has \(cache.layerCount) layers, model has \(config.layers)")
        }
        let batch = ids.count, past = cache.length
        guard past + seq <= config.contextLength else {
            throw LlamaError.invalidInput("\(past) cached + \(seq) new positions exceed the context length \(config.contextLength)")
        }
        let group = config.heads / config.kvHeads
        let repeatIndex = (0..<config.heads).map { $0 / group }
        var h = try device.embedding(ids.flatMap { $0 }, table: tokenEmbedding, shape: [batch, seq])
        for (i, block) in blocks.enumerated() {
            let a = try device.rmsNorm(h, weight: block.attnNorm, eps: config.rmsEps)
            let q = try rotary(device.linear(a, weight: block.wq), heads: config.heads, start: past, device: device)
            let k = try rotary(device.linear(a, weight: block.wk), heads: config.kvHeads, start: past, device: device)
            let v = try device.linear(a, weight: block.wv)
            let kv = try cache.append(layer: i, keys: device.splitHeads(k, heads: config.kvHeads),
                                      values: device.splitHeads(v, heads: config.kvHeads))
            // Grouped-query attention: each kv head serves `group` consecutive query heads.
            let keys = group == 1 ? kv.keys : try device.indexSelect(kv.keys, dim: 1, indices: repeatIndex)
            let values = group == 1 ? kv.values : try device.indexSelect(kv.values, dim: 1, indices: repeatIndex)
            let attn = try device.scaledDotProductAttention(query: device.splitHeads(q, heads: config.heads),
                                                            key: keys, value: values, causal: true, keyRows: kv.rows)
            h = try device.add(h, device.linear(device.mergeHeads(attn), weight: block.wo))
            let m = try device.rmsNorm(h, weight: block.ffnNorm, eps: config.rmsEps)
            let gate = device.silu(try device.linear(m, weight: block.wGate))
            let up = try device.linear(m, weight: block.wUp)
            h = try device.add(h, device.linear(device.mul(gate, up), weight: block.wDown))
        }
        return try device.rmsNorm(h, weight: outputNorm, eps: config.rmsEps)
    }

    /// Vocabulary logits: hidden [..., d] -> [..., vocab].
    public func logits(_ hidden: Tensor, device: Device) throws -> Tensor {
        try device.linear(hidden, weight: output)
    }

    /// Logits of the last position of each row: hidden [batch, seq, d] -> [batch, vocab].
    public func lastLogits(_ hidden: Tensor, device: Device) throws -> Tensor {
        guard hidden.rank == 3, hidden.shape[1] > 0 else {
            throw LlamaError.invalidInput("hidden states must be [batch, seq, d], got \(hidden.shape)")
        }
        let last = try hidden.narrowed(dim: 1, start: hidden.shape[1] - 1, length: 1)
        return try logits(last, device: device).reshaped([hidden.shape[0], config.vocabSize])
    }
}

extension Llama: CachedTokenDecoder {
    public var vocabularySize: Int { config.vocabSize }
}
