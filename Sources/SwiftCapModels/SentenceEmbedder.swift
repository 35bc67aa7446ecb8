import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapText

/// Errors from loading or running a BERT sentence embedder; each names the file or input at fault
/// (a missing or misshapen tensor is a `WeightError` naming the tensor).
public enum SentenceEmbedderError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case config(file: String, String)
    case unsupported(file: String, String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .missingFile(let path): return "sentence embedder: \(path) not found"
        case .config(let file, let detail): return "sentence embedder config \(file): \(detail)"
        case .unsupported(let file, let detail): return "sentence embedder \(file): unsupported: \(detail)"
        case .invalidInput(let detail): return "sentence embedder: \(detail)"
        }
    }
}

/// BERT hyper-parameters (Hugging Face `BertConfig` keys). The sizes are required, so that a file
/// that is not a BERT config (a sentence-transformers pooling config, say) is refused; the rest take
/// transformers' defaults.
public struct BERTConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct = "gelu"
    public var maxPositionEmbeddings = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12
    public var positionEmbeddingType = "absolute"

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps"
        case positionEmbeddingType = "position_embedding_type"
    }

    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                hiddenAct: String = "gelu", maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
                layerNormEps: Float = 1e-12, positionEmbeddingType: String = "absolute") {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.positionEmbeddingType = positionEmbeddingType
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 512
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? 2
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
    }

    public static func load(from url: URL) throws -> BERTConfig {
        guard FileManager.default.fileExists(atPath: url.path) else { throw SentenceEmbedderError.missingFile(url.path) }
        let config: BERTConfig
        do {
            config = try JSONDecoder().decode(BERTConfig.self, from: Data(contentsOf: url))
        } catch {
            throw SentenceEmbedderError.config(file: url.path, "not a BERT config: \(error)")
        }
        try config.validate(file: url.path)
        return config
    }

    public func validate(file: String) throws {
        guard vocabSize > 0, hiddenSize > 0, numHiddenLayers > 0, numAttentionHeads > 0, intermediateSize > 0,
              maxPositionEmbeddings > 0, typeVocabSize > 0 else {
            throw SentenceEmbedderError.config(file: file, "sizes must be positive")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw SentenceEmbedderError.config(file: file, "hidden_size \(hiddenSize) not divisible by \(numAttentionHeads) heads")
        }
        guard Activation(configName: hiddenAct) != nil else {
            throw SentenceEmbedderError.config(file: file, "unknown hidden_act '\(hiddenAct)'")
        }
        guard positionEmbeddingType == "absolute" else {
            throw SentenceEmbedderError.unsupported(file: file, "position_embedding_type '\(positionEmbeddingType)'")
        }
    }
}

/// One post-norm BERT layer (`encoder.layer.N`):
/// `h = LN(h + out(attn(h)))`, `h = LN(h + down(act(up(h))))`. q/k/v are held fused as [3d, d].
struct BERTLayer: Sendable {
    var qkvWeight: LinearWeight         // [3d, d]
    var qkvBias: Tensor                 // [3d]
    var attnOutWeight: LinearWeight     // [d, d]
    var attnOutBias: Tensor
    var attnLNWeight, attnLNBias: Tensor
    var upWeight: LinearWeight          // intermediate.dense [inner, d]
    var upBias: Tensor
    var downWeight: LinearWeight        // output.dense [d, inner]
    var downBias: Tensor
    var outLNWeight, outLNBias: Tensor

    init(_ w: Weights, width d: Int, inner: Int, device: Device) throws {
        let s = w.pp("attention.self")
        qkvWeight = try LinearWeight.concatenatingOutputs(["query", "key", "value"].map { try s.linearWeight("\($0).weight", out: d, in: d) },
                                                          device: device)
        qkvBias = try device.concat(["query", "key", "value"].map { try s.tensor("\($0).bias", shape: [d]) }, dim: 0)
        let o = w.pp("attention.output")
        attnOutWeight = try o.linearWeight("dense.weight", out: d, in: d)
        attnOutBias = try o.tensor("dense.bias", shape: [d])
        attnLNWeight = try o.tensor("LayerNorm.weight", shape: [d])
        attnLNBias = try o.tensor("LayerNorm.bias", shape: [d])
        upWeight = try w.linearWeight("intermediate.dense.weight", out: inner, in: d)
        upBias = try w.tensor("intermediate.dense.bias", shape: [inner])
        downWeight = try w.linearWeight("output.dense.weight", out: d, in: inner)
        downBias = try w.tensor("output.dense.bias", shape: [d])
        outLNWeight = try w.tensor("output.LayerNorm.weight", shape: [d])
        outLNBias = try w.tensor("output.LayerNorm.bias", shape: [d])
    }

    /// h: [batch, seq, d], mask: additive [batch, 1, 1, seq] or nil -> [batch, seq, d].
    func forward(_ h: Tensor, mask: Tensor?, heads: Int, activation: Activation, eps: Float, device: Device) throws -> Tensor {
        let qkv = try device.split(device.linear(h, weight: qkvWeight, bias: qkvBias), parts: 3, dim: 2)
        let attn = try device.scaledDotProductAttention(query: device.splitHeads(qkv[0], heads: heads),
                                                        key: device.splitHeads(qkv[1], heads: heads),
                                                        value: device.splitHeads(qkv[2], heads: heads), mask: mask)
        let projected = try device.linear(device.mergeHeads(attn), weight: attnOutWeight, bias: attnOutBias)
        let x = try device.layerNorm(device.add(h, projected), weight: attnLNWeight, bias: attnLNBias, eps: eps)
        let f = device.activation(try device.linear(x, weight: upWeight, bias: upBias), activation)
        let y = try device.linear(f, weight: downWeight, bias: downBias)
        return try device.layerNorm(device.add(x, y), weight: outLNWeight, bias: outLNBias, eps: eps)
    }
}

/// The BERT encoder (`BertModel` without its pooler), Hugging Face layout: `embeddings.{word,position,
/// token_type}_embeddings`, `embeddings.LayerNorm`, `encoder.layer.N.…`.
public struct BERTEncoder: Sendable {
    public let config: BERTConfig
    let wordEmbeddings: Tensor          // [vocab, d]
    let positionEmbeddings: Tensor      // [positions, d]
    let tokenTypeEmbeddings: Tensor     // [types, d]
    let embLNWeight, embLNBias: Tensor
    let layers: [BERTLayer]
    let activation: Activation

    /// `weights` holds `embeddings.` and `encoder.` (pass `.pp("bert")` for a checkpoint with heads).
    public init(weights: Weights, config: BERTConfig, device: Device) throws {
        try config.validate(file: weights.source.sourceDescription)
        self.config = config
        let d = config.hiddenSize
        let e = weights.pp("embeddings")
        wordEmbeddings = try e.tensor("word_embeddings.weight", shape: [config.vocabSize, d])
        positionEmbeddings = try e.tensor("position_embeddings.weight", shape: [config.maxPositionEmbeddings, d])
        tokenTypeEmbeddings = try e.tensor("token_type_embeddings.weight", shape: [config.typeVocabSize, d])
        embLNWeight = try e.tensor("LayerNorm.weight", shape: [d])
        embLNBias = try e.tensor("LayerNorm.bias", shape: [d])
        layers = try (0..<config.numHiddenLayers).map {
            try BERTLayer(weights.pp("encoder.layer").pp($0), width: d, inner: config.intermediateSize, device: device)
        }
        activation = Activation(configName: config.hiddenAct) ?? .gelu
    }

    /// Token rows (each with its [CLS] … [SEP], of any lengths ≥ 1; shorter rows are right-padded with
    /// id 0 and masked, token type 0 throughout) -> last hidden state [batch, longest, d].
    public func forward(ids: [[Int]], device: Device) throws -> Tensor {
        let lengths = ids.map(\.count)
        guard let seq = lengths.max(), seq > 0, lengths.allSatisfy({ $0 > 0 }) else {
            throw SentenceEmbedderError.invalidInput("token rows must be non-empty, got lengths \(lengths)")
        }
        guard seq <= config.maxPositionEmbeddings else {
            throw SentenceEmbedderError.invalidInput("\(seq) tokens exceed the \(config.maxPositionEmbeddings) positions")
        }
        let b = ids.count, d = config.hiddenSize
        let padded = ids.flatMap { $0 + [Int](repeating: 0, count: seq - $0.count) }
        var h = try device.embedding(padded, table: wordEmbeddings, shape: [b, seq])
        h = try device.add(h, positionEmbeddings.narrowed(dim: 0, start: 0, length: seq))
        h = try device.add(h, tokenTypeEmbeddings.narrowed(dim: 0, start: 0, length: 1).reshaped([d]))
        h = try device.layerNorm(h, weight: embLNWeight, bias: embLNBias, eps: config.layerNormEps)
        let mask = lengths.allSatisfy({ $0 == seq }) ? nil : try device.paddingMask(lengths: lengths, keys: seq)
        for layer in layers {
            h = try layer.forward(h, mask: mask, heads: config.numAttentionHeads, activation: activation,
                                  eps: config.layerNormEps, device: device)
        }
        return h
    }
}

/// A sentence-transformers BERT model (all-MiniLM-L6-v2 and its kind): WordPiece tokens truncated to
/// `max_seq_length`, the BERT encoder, mean pooling over the real tokens, and (when the model lists a
/// `Normalize` module, or lists none) L2 normalisation — what `SentenceTransformer.encode` computes.
public struct SentenceEmbedder: Sendable {
    public let encoder: BERTEncoder
    public let tokenizer: WordPieceTokenizer
    /// Tokens per text including [CLS] and [SEP] (`max_seq_length` of sentence_bert_config.json).
    public let maxSequenceLength: Int
    /// Whether embeddings are scaled to unit length (a `Normalize` module).
    public let normalizes: Bool

    /// Width of the embeddings.
    public var dimension: Int { encoder.config.hiddenSize }

    /// A sentence-transformers model folder: config.json (BERT), model.safetensors, vocab.txt, and
    /// optionally sentence_bert_config.json, tokenizer_config.json, modules.json and the pooling
    /// module's config.json. Without modules.json the published pipeline is assumed
    /// (Transformer → mean Pooling → Normalize).
    public init(directory: URL, device: Device = Device(threads: 1)) throws {
        func file(_ name: String) throws -> URL {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { throw SentenceEmbedderError.missingFile(url.path) }
            return url
        }
        let config = try BERTConfig.load(from: file("config.json"))
        let checkpoint = try SafetensorsFile(url: file("model.safetensors"))
        let tokenizer = try WordPieceTokenizer(vocabTXT: file("vocab.txt"))
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw SentenceEmbedderError.config(file: directory.appendingPathComponent("vocab.txt").path,
                                               "\(tokenizer.vocabularySize) tokens exceed vocab_size \(config.vocabSize)")
        }
        let options = try SentenceModelOptions(directory: directory, config: config)
        try self.init(encoder: BERTEncoder(weights: Weights(checkpoint), config: config, device: device), tokenizer: tokenizer,
                      maxSequenceLength: options.maxSequenceLength, normalizes: options.normalizes)
    }

    public init(encoder: BERTEncoder, tokenizer: WordPieceTokenizer, maxSequenceLength: Int, normalizes: Bool = true) throws {
        guard (2...encoder.config.maxPositionEmbeddings).contains(maxSequenceLength) else {
            throw SentenceEmbedderError.invalidInput(
                "max_seq_length \(maxSequenceLength) outside 2...\(encoder.config.maxPositionEmbeddings)")
        }
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.maxSequenceLength = maxSequenceLength
        self.normalizes = normalizes
    }

    /// Token ids of `text` as the model sees them: [CLS] pieces [SEP], the pieces cut so that the
    /// whole is at most `maxSequenceLength` (the tokenizer's `truncation=True, max_length=…`).
    public func tokenize(_ text: String) -> [Int] {
        let ids = tokenizer.encode(text)
        guard ids.count > maxSequenceLength else { return ids }
        return Array(ids.prefix(maxSequenceLength - 1)) + [tokenizer.sepID]
    }

    /// The embedding of one text: [dimension].
    public func embed(_ text: String, device: Device) throws -> [Float] {
        try embed([text], device: device)[0]
    }

    /// Embeddings of `texts`, in order. Texts are run in batches of up to `batchSize`, grouped by
    /// token count (longest first, as sentence-transformers does) so little padding is computed.
    public func embed(_ texts: [String], device: Device, batchSize: Int = 32) throws -> [[Float]] {
        guard batchSize > 0 else { throw SentenceEmbedderError.invalidInput("batchSize must be positive") }
        let ids = texts.map(tokenize)
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        var out = [[Float]](repeating: [], count: texts.count)
        let d = dimension
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = Array(order[start..<min(start + batchSize, order.count)])
            let rows = batch.map { ids[$0] }
            let hidden = try encoder.forward(ids: rows, device: device)
            var pooled = try device.maskedMean(hidden, lengths: rows.map(\.count))
            if normalizes { pooled = try device.l2Normalize(pooled, eps: 1e-12) }   // F.normalize's eps
            let values = pooled.scalars
            for (k, i) in batch.enumerated() { out[i] = Array(values[(k * d)..<((k + 1) * d)]) }
        }
        return out
    }
}

/// What the sentence-transformers files around the checkpoint say: the token limit, the pooling
/// (only mean pooling is implemented) and whether a Normalize module follows.
struct SentenceModelOptions {
    var maxSequenceLength: Int
    var normalizes: Bool

    private struct SentenceBERT: Decodable { var max_seq_length: Int? }
    private struct TokenizerConfig: Decodable { var do_lower_case: Bool? }
    private struct Module: Decodable { var path: String?; var type: String }
    private struct Pooling: Decodable {
        var word_embedding_dimension: Int?
        var pooling_mode_cls_token: Bool?
        var pooling_mode_mean_tokens: Bool?
        var pooling_mode_max_tokens: Bool?
        var pooling_mode_mean_sqrt_len_tokens: Bool?
        var pooling_mode_weightedmean_tokens: Bool?
        var pooling_mode_lasttoken: Bool?
    }

    init(directory: URL, config: BERTConfig) throws {
        func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            do { return try JSONDecoder().decode(T.self, from: Data(contentsOf: url)) } catch {
                throw SentenceEmbedderError.config(file: url.path, "\(error)")
            }
        }
        // sentence-transformers falls back to the tokenizer's limit, itself capped by the positions.
        maxSequenceLength = try decode(SentenceBERT.self, "sentence_bert_config.json")?.max_seq_length
            ?? config.maxPositionEmbeddings
        if try decode(TokenizerConfig.self, "tokenizer_config.json")?.do_lower_case == false {
            throw SentenceEmbedderError.unsupported(file: directory.appendingPathComponent("tokenizer_config.json").path,
                                                    "a cased tokenizer (the WordPiece tokenizer lower-cases)")
        }
        normalizes = true
        guard let modules = try decode([Module].self, "modules.json") else { return }
        let file = directory.appendingPathComponent("modules.json").path
        let kinds = modules.map { $0.type.split(separator: ".").last.map(String.init) ?? $0.type }
        guard kinds.first == "Transformer", kinds.count >= 2, kinds[1] == "Pooling",
              kinds.dropFirst(2).allSatisfy({ $0 == "Normalize" }) else {
            throw SentenceEmbedderError.unsupported(file: file, "modules \(kinds) (Transformer, Pooling[, Normalize] only)")
        }
        normalizes = kinds.count > 2
        if let path = modules[1].path, !path.isEmpty,
           let pooling = try decode(Pooling.self, path + "/config.json") {
            let others = [pooling.pooling_mode_cls_token, pooling.pooling_mode_max_tokens, pooling.pooling_mode_mean_sqrt_len_tokens,
                          pooling.pooling_mode_weightedmean_tokens, pooling.pooling_mode_lasttoken]
            guard pooling.pooling_mode_mean_tokens == true, !others.contains(true),
                  (pooling.word_embedding_dimension ?? config.hiddenSize) == config.hiddenSize else {
                throw SentenceEmbedderError.unsupported(file: directory.appendingPathComponent(path + "/config.json").path,
                                                        "pooling other than mean tokens of width \(config.hiddenSize)")
            }
        }
    }
}
