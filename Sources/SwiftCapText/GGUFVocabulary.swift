/// The tokenizer fields of a GGUF file (`tokenizer.ggml.*`), as plain arrays so that this layer
/// needs no GGUF reader; SwiftCapFormats' `GGUFFile` fills it (see `GGUFVocabulary.init(value:)`).
public struct GGUFVocabulary: Sendable, Equatable {
    /// `tokenizer.ggml.model` ("gpt2" for byte-level BPE).
    public var model: String
    /// `tokenizer.ggml.pre` (pre-tokenizer name, e.g. "smollm", "gpt2", "default").
    public var pre: String
    /// `tokenizer.ggml.tokens`: [vocabularySize] symbols, id = index.
    public var tokens: [String]
    /// `tokenizer.ggml.merges`: "left right" in rank order.
    public var merges: [String]
    /// `tokenizer.ggml.token_type`: [vocabularySize] (1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte); empty when absent.
    public var tokenTypes: [Int]

    public init(model: String, pre: String, tokens: [String], merges: [String], tokenTypes: [Int]) {
        self.model = model; self.pre = pre; self.tokens = tokens; self.merges = merges; self.tokenTypes = tokenTypes
    }

    /// Reads the fields through a metadata lookup returning GGUF values as Swift values
    /// (String, [String], [Int]); `source` names the file in errors.
    public init(source: String, string: (String) -> String?, strings: (String) -> [String]?, ints: (String) -> [Int]?) throws {
        guard let model = string("tokenizer.ggml.model") else {
            throw TokenizerError.malformed(file: source, reason: "no tokenizer.ggml.model")
        }
        guard let tokens = strings("tokenizer.ggml.tokens") else {
            throw TokenizerError.malformed(file: source, reason: "no tokenizer.ggml.tokens string array")
        }
        let types = ints("tokenizer.ggml.token_type") ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw TokenizerError.malformed(file: source, reason: "token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        self.init(model: model, pre: string("tokenizer.ggml.pre") ?? "default", tokens: tokens,
                  merges: strings("tokenizer.ggml.merges") ?? [], tokenTypes: types)
    }
}

extension GPT2Tokenizer {
    /// A byte-level BPE tokenizer from GGUF tokenizer fields. Control tokens (type 3) are matched
    /// verbatim in text and skipped by `decode`; user-defined ones (type 4) are matched but kept.
    /// Pre-tokenizers: "smollm" (and llama.cpp's others with the same rule: "starcoder",
    /// "refact", "command-r", "codeshell", "exaone", "minerva") isolate digits before the GPT-2
    /// pattern; "gpt2", "default", "mpt", "olmo" use the GPT-2 pattern alone.
    public init(gguf v: GGUFVocabulary, source: String = "<gguf>") throws {
        guard v.model == "gpt2" else { throw TokenizerError.unsupported(file: source, feature: "tokenizer.ggml.model \(v.model)") }
        let pre: PreTokenizer
        switch v.pre {
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva": pre = .digitsThenGPT2
        case "gpt2", "default", "mpt", "olmo": pre = .gpt2
        default: throw TokenizerError.unsupported(file: source, feature: "tokenizer.ggml.pre \(v.pre)")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(v.tokens.count)
        for (id, t) in v.tokens.enumerated() { vocab[t] = id } // a repeated symbol keeps its last id, as in transformers
        var added: [AddedToken] = []
        for (id, type) in v.tokenTypes.enumerated() where type == 3 || type == 4 {
            added.append(AddedToken(content: v.tokens[id], id: id, special: type == 3))
        }
        let pairs = try parseMergeLines(v.merges.map { Substring($0) }, file: source)
        try self.init(vocab: vocab, mergePairs: pairs, preTokenizer: pre, addPrefixSpace: false,
                      ignoreMerges: false, addedTokens: added, source: source)
    }
}
