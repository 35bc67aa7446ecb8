import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// Errors loading or running the concept decoder; each names the file or input.
public enum ConceptDecoderError: Error, CustomStringConvertible, Equatable {
    case badFile(String, String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .badFile(let file, let why): return "concept decoder \(file): \(why)"
        case .invalidInput(let why): return "concept decoder: \(why)"
        }
    }
}

/// The generative caption decoder trained text-only by `swiftcap train`: a small GPT-2-architecture
/// transformer over a word-level vocabulary that reads `[concept tokens] <sep> retrieved caption <sep> …
/// <bos>` and writes a caption ending in `<eos>`.
///
/// File: safetensors with GPT-2 key names (`wte.weight`, `h.0.attn.c_attn.weight`, …) and metadata
/// `format` = `swiftcap-concept-decoder`, `shape` (JSON: vocabSize, positions, dim, layers, heads,
/// ffDim) and `vocabulary` (tokens joined by newlines, id = line number).
public struct ConceptDecoder: Sendable {
    public static let formatName = "swiftcap-concept-decoder"
    public static let specialTokens = ["<pad>", "<bos>", "<eos>", "<sep>", "<unk>", "<x2>", "<x3>"]
    public static let pad = 0, bos = 1, eos = 2, sep = 3, unk = 4, count2 = 5, count3 = 6

    public let model: GPT2
    /// Token strings by id.
    public let tokens: [String]
    private let ids: [String: Int]

    public var config: GPT2Config { model.config }

    /// Concept token for a concept name ("dog" -> "[dog]").
    public static func conceptToken(_ name: String) -> String { "[" + name + "]" }

    public init(model: GPT2, tokens: [String]) throws {
        guard tokens.count == model.config.vocabSize else {
            throw ConceptDecoderError.invalidInput("\(tokens.count) vocabulary tokens for a model with vocab size \(model.config.vocabSize)")
        }
        guard Array(tokens.prefix(ConceptDecoder.specialTokens.count)) == ConceptDecoder.specialTokens else {
            throw ConceptDecoderError.invalidInput("vocabulary does not start with the special tokens \(ConceptDecoder.specialTokens)")
        }
        self.model = model
        self.tokens = tokens
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
        self.ids = ids
    }

    /// Loads a decoder file written by `swiftcap train`.
    public init(url: URL) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch {
            throw ConceptDecoderError.badFile(url.path, "\(error)")
        }
        guard file.metadata["format"] == ConceptDecoder.formatName else {
            throw ConceptDecoderError.badFile(url.path, "metadata 'format' is not '\(ConceptDecoder.formatName)'")
        }
        guard let shapeJSON = file.metadata["shape"],
              let shape = try? JSONSerialization.jsonObject(with: Data(shapeJSON.utf8)) as? [String: Any],
              let v = (shape["vocabSize"] as? NSNumber)?.intValue, let p = (shape["positions"] as? NSNumber)?.intValue,
              let d = (shape["dim"] as? NSNumber)?.intValue, let l = (shape["layers"] as? NSNumber)?.intValue,
              let h = (shape["heads"] as? NSNumber)?.intValue, let f = (shape["ffDim"] as? NSNumber)?.intValue else {
            throw ConceptDecoderError.badFile(url.path, "metadata 'shape' is missing or incomplete")
        }
        guard let vocab = file.metadata["vocabulary"] else {
            throw ConceptDecoderError.badFile(url.path, "metadata 'vocabulary' is missing")
        }
        let config = GPT2Config(vocabSize: v, nPositions: p, nEmbd: d, nLayer: l, nHead: h, nInner: f,
                                layerNormEpsilon: 1e-5, activationFunction: "gelu_new", bosTokenId: nil, eosTokenId: nil)
        let model: GPT2
        do {
            // Every file reads through the quantized reader: int8/q4 matrices (`swiftcap quantize`) and F16
            // matrices (the shipped f16 file too) stay as stored, in memory, and run through the fused
            // dequantize-and-dot kernels (few rows per decode step) instead of being widened to fp32.
            let source: any TensorSource = try QuantizedCheckpoint(file: file)
            model = try GPT2(config: config, weights: Weights(source))
        } catch {
            throw ConceptDecoderError.badFile(url.path, "\(error)")
        }
        do {
            try self.init(model: model, tokens: vocab.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        } catch ConceptDecoderError.invalidInput(let why) {
            throw ConceptDecoderError.badFile(url.path, why)
        }
    }

    /// Id of a token string, or nil.
    public func id(of token: String) -> Int? { ids[token] }

    /// Id of a caption word (`<unk>` when unknown).
    public func wordID(_ word: String) -> Int { ids[word] ?? ConceptDecoder.unk }

    /// Runs the prompt through the model: returns the cache after it and the next-token logits [1, vocab].
    public func prefill(_ prompt: [Int], device: Device) throws -> (KVCache, Tensor) {
        guard !prompt.isEmpty, prompt.count < config.nPositions else {
            throw ConceptDecoderError.invalidInput("prompt of \(prompt.count) tokens (1…\(config.nPositions - 1) allowed)")
        }
        for t in prompt where t < 0 || t >= config.vocabSize {
            throw ConceptDecoderError.invalidInput("token id \(t) outside vocabulary 0..<\(config.vocabSize)")
        }
        var cache = model.makeCache()
        let hidden = try model.hiddenStates(ids: [prompt], cache: &cache, device: device)
        return (cache, try model.lastLogits(hidden, device: device))
    }
}
