import Foundation

/// BERT's WordPiece tokenizer, uncased, identical to Hugging Face `tokenizers`'
/// `BertWordPieceTokenizer(vocab.txt, lowercase=True)`: BertNormalizer (clean text, CJK
/// spacing, NFD accent stripping, lower-case), BertPreTokenizer (whitespace and punctuation
/// split), greedy longest-match WordPiece with "##" continuations, [CLS] ... [SEP].
public struct WordPieceTokenizer: Sendable {
    /// id -> token (index = line of vocab.txt).
    let idToToken: [String?]
    /// UTF-8 of a token -> id.
    let vocab: [[UInt8]: Int32]
    public let unkID: Int
    public let clsID: Int
    public let sepID: Int
    /// Special tokens present in the vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK]): matched verbatim
    /// in the raw text, skipped by `decode`.
    let specials: [(scalars: [Unicode.Scalar], id: Int)]
    let specialIDs: Set<Int>
    /// Words longer than this (in scalars) become [UNK].
    public let maxInputCharsPerWord: Int
    let prefix: [UInt8] = Array("##".utf8)

    public var vocabularySize: Int { idToToken.count }

    /// Reads vocab.txt: one token per line, id = line number (trailing whitespace trimmed).
    public init(vocabTXT url: URL, maxInputCharsPerWord: Int = 100) throws {
        let text = try utf8Text(try readFile(url), file: url.path)
        try self.init(tokens: splitLines(text).map { line in
            var s = Substring(line)
            while let last = s.unicodeScalars.last, last.properties.isWhitespace {
                s = Substring(s.unicodeScalars.dropLast())
            }
            return String(s)
        }, maxInputCharsPerWord: maxInputCharsPerWord, source: url.path)
    }

    /// tokens: [vocabularySize] token spellings, id = index.
    public init(tokens: [String], maxInputCharsPerWord: Int = 100, source: String = "<vocabulary>") throws {
        var vocab: [[UInt8]: Int32] = [:]
        for (id, t) in tokens.enumerated() { vocab[Array(t.utf8)] = Int32(id) } // last one wins, as in tokenizers
        var table = [String?](repeating: nil, count: tokens.count)
        for (k, id) in vocab { table[Int(id)] = String(decoding: k, as: UTF8.self) }
        func id(_ t: String) throws -> Int {
            guard let i = vocab[Array(t.utf8)] else { throw TokenizerError.unknownSymbol(file: source, symbol: t) }
            return Int(i)
        }
        self.vocab = vocab
        self.idToToken = table
        self.unkID = try id("[UNK]")
        self.clsID = try id("[CLS]")
        self.sepID = try id("[SEP]")
        let sp = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { t in
            vocab[Array(t.utf8)].map { (Array(t.unicodeScalars), Int($0)) }
        }
        self.specials = sp
        self.specialIDs = Set(sp.map(\.1))
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    // MARK: normalizer

    /// BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase) of `text`.
    public static func normalize(_ text: String) -> String {
        String(String.UnicodeScalarView(normalize(Array(text.unicodeScalars)[...])))
    }

    /// The same on scalars.
    static func normalize(_ text: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var s: [Unicode.Scalar] = []
        s.reserveCapacity(text.count + 8)
        var ascii = true
        for c in text {
            if c.value < 128 {
                if c.value >= 32 && c.value < 127 {
                    s.append((c.value >= 65 && c.value <= 90) ? Unicode.Scalar(c.value + 32)! : c)
                } else if c == "\t" || c == "\n" || c == "\r" {
                    s.append(" ")
                } // other ASCII controls (Cc, including \v \f and NUL) are dropped before the whitespace mapping
                continue
            }
            ascii = false
            if c.value == 0xfffd || isControl(c) { continue }
            if isWhitespace(c) { s.append(" "); continue }
            if isChinese(c) { s.append(" "); s.append(c); s.append(" "); continue }
            s.append(c)
        }
        if ascii { return s } // already lower-cased; NFD and accent stripping change nothing
        let nfd = String(String.UnicodeScalarView(s)).decomposedStringWithCanonicalMapping
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count + 8)
        for c in nfd.unicodeScalars where c.properties.generalCategory != .nonspacingMark {
            if c.value < 128 {
                out.append((c.value >= 65 && c.value <= 90) ? Unicode.Scalar(c.value + 32)! : c)
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { CharClass.isWhitespace(c) }

    /// Other categories (Cc, Cf, Cs, Co, Cn) except tab, newline and carriage return.
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// The CJK ideograph blocks BERT pads with spaces.
    static func isChinese(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    /// ASCII punctuation (including symbols such as $ + < = > ^ ` | ~) or Unicode P*.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 128 { return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// BertPreTokenizer: words split at whitespace (dropped) and punctuation (kept alone);
    /// returns scalar ranges of `normalized`.
    static func words(_ normalized: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = -1
        for (i, c) in normalized.enumerated() {
            if isWhitespace(c) {
                if start >= 0 { out.append(start..<i); start = -1 }
            } else if isPunctuation(c) {
                if start >= 0 { out.append(start..<i); start = -1 }
                out.append(i..<(i + 1))
            } else if start < 0 {
                start = i
            }
        }
        if start >= 0 { out.append(start..<normalized.count) }
        return out
    }

    // MARK: encode

    /// Ids with [CLS] first and [SEP] last.
    public func encode(_ text: String) -> [Int] {
        var out = [clsID]
        // Special tokens are cut out of the raw text first (they are not normalized).
        let u = Array(text.unicodeScalars)
        var segStart = 0, i = 0
        outer: while i < u.count {
            if u[i] == "[" {
                for sp in specials where i + sp.scalars.count <= u.count && u[i..<(i + sp.scalars.count)].elementsEqual(sp.scalars) {
                    encodeSegment(u[segStart..<i], into: &out)
                    out.append(sp.id)
                    i += sp.scalars.count
                    segStart = i
                    continue outer
                }
            }
            i += 1
        }
        encodeSegment(u[segStart..<u.count], into: &out)
        out.append(sepID)
        return out
    }

    func encodeSegment(_ scalars: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        guard !scalars.isEmpty else { return }
        let normalized = Self.normalize(scalars)
        for w in Self.words(normalized) { wordPiece(normalized[w], into: &out) }
    }

    /// Greedy longest-match-first pieces of one word; the whole word is [UNK] if any part fails.
    func wordPiece(_ word: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        if word.count > maxInputCharsPerWord { out.append(unkID); return }
        // offsets[k]: UTF-8 byte offset of scalar k.
        var bytes: [UInt8] = []
        var offsets = [0]
        bytes.reserveCapacity(word.count)
        offsets.reserveCapacity(word.count + 1)
        for c in word {
            if c.value < 128 { bytes.append(UInt8(c.value)) } else { bytes.append(contentsOf: UTF8.encode(c)!) }
            offsets.append(bytes.count)
        }
        var pieces: [Int] = []
        var start = 0
        var key: [UInt8] = []
        while start < word.count {
            var end = word.count
            var found: Int32? = nil
            while end > start {
                key.removeAll(keepingCapacity: true)
                if start > 0 { key.append(contentsOf: prefix) }
                key.append(contentsOf: bytes[offsets[start]..<offsets[end]])
                if let id = vocab[key] { found = id; break }
                end -= 1
            }
            guard let id = found else { out.append(unkID); return }
            pieces.append(Int(id))
            start = end
        }
        out.append(contentsOf: pieces)
    }

    // MARK: decode

    /// The token of `id`, or nil outside the vocabulary.
    public func token(_ id: Int) -> String? { id >= 0 && id < idToToken.count ? idToToken[id] : nil }

    /// Text of `ids` as `tokenizers` decodes it: special tokens skipped (when asked), "##"
    /// pieces glued to the previous token, other tokens joined with a space, and each token's
    /// " ." " ?" " !" " ," (and the other WordPiece clean-ups) tightened.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) throws -> String {
        var out = ""
        var index = 0
        for id in ids {
            guard let t = token(id) else { throw TokenizerError.unknownID(id) }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            var piece: String
            if index != 0 {
                // Compare scalars: "##" followed by a combining mark is one Character, not a "##" prefix.
                piece = t.unicodeScalars.starts(with: "##".unicodeScalars) ? String(t.unicodeScalars.dropFirst(2)) : " " + t
            } else {
                piece = t
            }
            index += 1
            piece = Self.cleanup(piece)
            out += piece
        }
        return out
    }

    static func cleanup(_ s: String) -> String {
        guard s.unicodeScalars.contains(" ") else { return s }
        var r = s
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                       (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            r = replaceScalars(r, a, b)
        }
        return r
    }

    /// Replaces every occurrence of `a` by `b`, comparing Unicode scalars (not characters).
    static func replaceScalars(_ s: String, _ a: String, _ b: String) -> String {
        let u = Array(s.unicodeScalars), pat = Array(a.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < u.count {
            if i + pat.count <= u.count && u[i..<(i + pat.count)].elementsEqual(pat) {
                out.append(contentsOf: b.unicodeScalars); i += pat.count
            } else {
                out.append(u[i]); i += 1
            }
        }
        return String(out)
    }
}
