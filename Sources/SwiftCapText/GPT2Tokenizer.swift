import Foundation

/// Byte-level BPE as GPT-2 defines it (and Hugging Face `tokenizers`' `ByteLevelBPETokenizer`
/// reproduces): text -> pre-tokenizer pieces -> UTF-8 bytes -> byte characters -> ranked merges.
/// Also serves SmolLM2's vocabulary (`init(tokens:merges:...)` with `.digitsThenGPT2`).
public struct GPT2Tokenizer: Sendable {
    /// A string matched verbatim before pre-tokenization (tokenizer.json `added_tokens`, GGUF
    /// control tokens). Special ones are dropped by `decode(_:skipSpecialTokens: true)`.
    public struct AddedToken: Sendable, Equatable {
        public var content: String
        public var id: Int
        public var special: Bool
        public init(content: String, id: Int, special: Bool) {
            self.content = content; self.id = id; self.special = special
        }
    }

    /// Symbol -> id.
    public let vocab: [String: Int]
    /// id -> symbol (nil where the id space has a hole).
    let idToToken: [String?]
    let merges: BPEMerges
    /// byteIDs[b]: id of byte b's character, or -1 when the vocabulary lacks it (such bytes
    /// are dropped, as `tokenizers` does without an unknown token).
    let byteIDs: [Int32]
    public let preTokenizer: PreTokenizer
    /// Prepend a space when the text does not start with one (ByteLevel `add_prefix_space`).
    public let addPrefixSpace: Bool
    /// Use a piece's own vocabulary id when it has one, without merging (`ignore_merges`).
    public let ignoreMerges: Bool
    /// Added tokens, longest content first (leftmost-longest matching).
    public let addedTokens: [AddedToken]
    let addedScalars: [[Unicode.Scalar]]
    let specialIDs: Set<Int>
    let cache = PieceCache()

    /// Number of ids (one past the largest id).
    public var vocabularySize: Int { idToToken.count }

    /// vocab: symbol -> id; merges: [(left, right)] in rank order; source names the origin in errors.
    public init(vocab: [String: Int], merges: [(String, String)], preTokenizer: PreTokenizer = .gpt2,
                addPrefixSpace: Bool = false, ignoreMerges: Bool = false,
                addedTokens: [AddedToken] = [], source: String = "<vocabulary>") throws {
        try self.init(vocab: vocab, mergePairs: merges.map { (Substring($0.0), Substring($0.1)) },
                      preTokenizer: preTokenizer, addPrefixSpace: addPrefixSpace, ignoreMerges: ignoreMerges,
                      addedTokens: addedTokens, source: source)
    }

    init(vocab: [String: Int], mergePairs: [(Substring, Substring)], preTokenizer: PreTokenizer,
         addPrefixSpace: Bool, ignoreMerges: Bool, addedTokens: [AddedToken], source: String) throws {
        guard !vocab.isEmpty else { throw TokenizerError.malformed(file: source, reason: "empty vocabulary") }
        var full = vocab
        for t in addedTokens where full[t.content] == nil { full[t.content] = t.id }
        let maxID = full.values.max() ?? 0
        guard full.values.allSatisfy({ $0 >= 0 }), maxID < 10_000_000 else {
            throw TokenizerError.malformed(file: source, reason: "token ids must lie in 0..<10000000")
        }
        var table = [String?](repeating: nil, count: maxID + 1)
        for (s, id) in full {
            if let existing = table[id], existing != s {
                throw TokenizerError.malformed(file: source, reason: "id \(id) names both \(existing.debugDescription) and \(s.debugDescription)")
            }
            table[id] = s
        }
        self.vocab = full
        self.idToToken = table
        self.merges = try BPEMerges(merges: mergePairs, vocab: full, file: source)
        self.byteIDs = ByteLevel.byteToScalar.map { full[String($0)].map(Int32.init) ?? -1 }
        self.preTokenizer = preTokenizer
        self.addPrefixSpace = addPrefixSpace
        self.ignoreMerges = ignoreMerges
        let sorted = addedTokens.filter { !$0.content.isEmpty }
            .sorted { $0.content.unicodeScalars.count > $1.content.unicodeScalars.count }
        self.addedTokens = sorted
        self.addedScalars = sorted.map { Array($0.content.unicodeScalars) }
        self.specialIDs = Set(addedTokens.filter(\.special).map(\.id))
    }

    /// GPT-2's published files: vocab.json (symbol -> id) and merges.txt.
    public init(vocabJSON: URL, mergesTXT: URL) throws {
        let vocab = try Self.readVocabJSON(vocabJSON)
        let text = try utf8Text(try readFile(mergesTXT), file: mergesTXT.path)
        let pairs = try parseMergeLines(splitLines(text), file: mergesTXT.path)
        try self.init(vocab: vocab, mergePairs: pairs, preTokenizer: .gpt2, addPrefixSpace: false,
                      ignoreMerges: false, addedTokens: [], source: mergesTXT.path)
    }

    /// A vocabulary stored as GGUF does (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`):
    /// tokens: [vocabularySize] symbols, id = index; merges: ["left right"] in rank order;
    /// specialIDs: ids of control tokens, matched verbatim in text and skipped by decode.
    public init(tokens: [String], merges: [String], specialIDs: Set<Int> = [],
                preTokenizer: PreTokenizer = .gpt2, source: String = "<gguf>") throws {
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        for (id, t) in tokens.enumerated() {
            if let first = vocab[t] {
                throw TokenizerError.malformed(file: source, reason: "token \(t.debugDescription) appears twice (ids \(first) and \(id))")
            }
            vocab[t] = id
        }
        let pairs = try parseMergeLines(merges.map { Substring($0) }, file: source)
        let added = specialIDs.sorted().compactMap { id -> AddedToken? in
            id >= 0 && id < tokens.count ? AddedToken(content: tokens[id], id: id, special: true) : nil
        }
        try self.init(vocab: vocab, mergePairs: pairs, preTokenizer: preTokenizer, addPrefixSpace: false,
                      ignoreMerges: false, addedTokens: added, source: source)
    }

    /// A Hugging Face tokenizer.json whose model is BPE with a byte-level pre-tokenizer
    /// (`ByteLevel`, or `Sequence[Digits(individual_digits), ByteLevel]`) and no normalizer.
    public init(tokenizerJSON url: URL) throws {
        let file = url.path
        let data = try readFile(url)
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError.malformed(file: file, reason: "not a JSON object")
        }
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(file: file, reason: "no \"model\" object")
        }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(file: file, feature: "model.type \(type)") }
        if let n = root["normalizer"], !(n is NSNull) {
            throw TokenizerError.unsupported(file: file, feature: "normalizer \(((n as? [String: Any])?["type"] as? String) ?? "?")")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix", "dropout"] {
            if let v = model[key], !(v is NSNull), !((v as? String)?.isEmpty ?? false) {
                throw TokenizerError.unsupported(file: file, feature: "model.\(key)")
            }
        }
        if (model["byte_fallback"] as? Bool) == true { throw TokenizerError.unsupported(file: file, feature: "model.byte_fallback") }
        guard let vocabAny = model["vocab"] as? [String: Any] else {
            throw TokenizerError.malformed(file: file, reason: "model.vocab is not an object")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vocabAny.count)
        for (k, v) in vocabAny {
            guard let id = (v as? NSNumber)?.intValue else { throw TokenizerError.malformed(file: file, reason: "vocab id of \(k.debugDescription) is not a number") }
            vocab[k] = id
        }
        guard let mergesAny = model["merges"] as? [Any] else {
            throw TokenizerError.malformed(file: file, reason: "model.merges is not an array")
        }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(mergesAny.count)
        for (n, m) in mergesAny.enumerated() {
            if let s = m as? String {
                pairs.append(contentsOf: try parseMergeLines([Substring(s)], file: file + " merge \(n)"))
            } else if let a = m as? [String], a.count == 2 {
                pairs.append((Substring(a[0]), Substring(a[1])))
            } else {
                throw TokenizerError.malformed(file: file, reason: "merge \(n) is neither \"a b\" nor [a, b]")
            }
        }
        var pre = PreTokenizer.gpt2
        var prefixSpace = false
        func byteLevel(_ o: [String: Any]) throws {
            prefixSpace = o["add_prefix_space"] as? Bool ?? false
            if (o["use_regex"] as? Bool) == false { throw TokenizerError.unsupported(file: file, feature: "ByteLevel use_regex false") }
        }
        guard let p = root["pre_tokenizer"] as? [String: Any] else {
            throw TokenizerError.unsupported(file: file, feature: "missing byte-level pre_tokenizer")
        }
        switch p["type"] as? String {
        case "ByteLevel":
            try byteLevel(p)
        case "Sequence":
            let seq = p["pretokenizers"] as? [[String: Any]] ?? []
            guard seq.count == 2, seq[0]["type"] as? String == "Digits", seq[0]["individual_digits"] as? Bool == true,
                  seq[1]["type"] as? String == "ByteLevel" else {
                throw TokenizerError.unsupported(file: file, feature: "pre_tokenizer Sequence other than [Digits(individual), ByteLevel]")
            }
            try byteLevel(seq[1])
            pre = .digitsThenGPT2
        default:
            throw TokenizerError.unsupported(file: file, feature: "pre_tokenizer \(p["type"] as? String ?? "?")")
        }
        var added: [AddedToken] = []
        for a in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = a["content"] as? String, let id = (a["id"] as? NSNumber)?.intValue else {
                throw TokenizerError.malformed(file: file, reason: "added token without content/id")
            }
            added.append(AddedToken(content: content, id: id, special: a["special"] as? Bool ?? false))
        }
        try self.init(vocab: vocab, mergePairs: pairs, preTokenizer: pre, addPrefixSpace: prefixSpace,
                      ignoreMerges: model["ignore_merges"] as? Bool ?? false, addedTokens: added, source: file)
    }

    static func readVocabJSON(_ url: URL) throws -> [String: Int] {
        let data = try readFile(url)
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError.malformed(file: url.path, reason: "not a JSON object of symbol -> id")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(obj.count)
        for (k, v) in obj {
            guard let n = v as? NSNumber else {
                throw TokenizerError.malformed(file: url.path, reason: "id of \(k.debugDescription) is not a number")
            }
            vocab[k] = n.intValue
        }
        return vocab
    }

    /// Token ids of `text` (no special tokens added; GPT-2 has none to add).
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        var scalars = Array(text.unicodeScalars)
        if addPrefixSpace, let first = scalars.first, first != " " { scalars.insert(" ", at: 0) }
        // Added tokens are cut out first; the text between them goes through BPE.
        var segStart = 0, i = 0
        outer: while i < scalars.count {
            for (k, a) in addedScalars.enumerated() where a.count <= scalars.count - i && a[0] == scalars[i] {
                if scalars[i..<(i + a.count)].elementsEqual(a) {
                    encodeSegment(scalars, segStart, i, into: &out)
                    out.append(addedTokens[k].id)
                    i += a.count
                    segStart = i
                    continue outer
                }
            }
            i += 1
        }
        encodeSegment(scalars, segStart, scalars.count, into: &out)
        return out
    }

    func encodeSegment(_ all: [Unicode.Scalar], _ start: Int, _ end: Int, into out: inout [Int]) {
        guard start < end else { return }
        let text = start == 0 && end == all.count ? all : Array(all[start..<end])
        for r in preTokenizer.split(text) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(r.count * 2)
            for s in text[r] { bytes.append(contentsOf: UTF8.encode(s)!) }
            out.append(contentsOf: pieceIDs(bytes).lazy.map { Int($0) })
        }
    }

    /// ids of one pre-tokenized piece; bytes: its UTF-8.
    func pieceIDs(_ bytes: [UInt8]) -> [Int32] {
        if let hit = cache.get(bytes) { return hit }
        var symbols: [Int32] = []
        if ignoreMerges, let whole = vocab[ByteLevel.encode(bytes)] {
            symbols = [Int32(whole)]
        } else {
            symbols.reserveCapacity(bytes.count)
            for b in bytes where byteIDs[Int(b)] >= 0 { symbols.append(byteIDs[Int(b)]) }
            merges.apply(&symbols)
        }
        cache.put(bytes, symbols)
        return symbols
    }

    /// The symbol of `id`, or nil outside the vocabulary.
    public func token(_ id: Int) -> String? { id >= 0 && id < idToToken.count ? idToToken[id] : nil }

    /// Text of `ids`: symbols concatenated, byte characters turned back into bytes, UTF-8
    /// decoded with U+FFFD for invalid sequences (as `tokenizers`' ByteLevel decoder does).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let t = token(id) else { throw TokenizerError.unknownID(id) }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            for s in t.unicodeScalars {
                if let b = ByteLevel.byte(for: s) { bytes.append(b) } else { bytes.append(contentsOf: UTF8.encode(s)!) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Lines of `text` split at "\n" (a "\r" before it is dropped); works on scalars so that a
/// combining mark at the start of a line never fuses with the line break.
func splitLines(_ text: String) -> [Substring] {
    var out: [Substring] = []
    let u = text.unicodeScalars
    var start = u.startIndex
    var i = u.startIndex
    while i < u.endIndex {
        if u[i] == "\n" {
            var e = i
            if e > start, u[u.index(before: e)] == "\r" { e = u.index(before: e) }
            out.append(text[start..<e])
            start = u.index(after: i)
        }
        i = u.index(after: i)
    }
    if start < u.endIndex { out.append(text[start..<u.endIndex]) }
    return out
}
