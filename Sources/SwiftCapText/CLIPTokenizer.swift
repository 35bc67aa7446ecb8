import Foundation

/// CLIP's BPE tokenizer, identical to open_clip's `SimpleTokenizer` (clean = "lower"):
/// text is cleaned (`CLIPTextCleaner`), split with CLIP's pattern, each piece spelled in GPT-2
/// byte characters with "</w>" on its last symbol, and merged by rank. `tokenize` adds
/// start/end tokens and pads or truncates to the 77-token context.
public struct CLIPTokenizer: Sendable {
    /// Symbol -> id (49,408 symbols for the published vocabulary).
    public let vocab: [String: Int]
    let idToToken: [String]
    let merges: BPEMerges
    /// byteIDs[b], byteEndIDs[b]: ids of byte b's character without and with "</w>".
    let byteIDs: [Int32]
    let byteEndIDs: [Int32]
    /// Id of `<start_of_text>` (49406).
    public let startID: Int
    /// Id of `<end_of_text>` (49407).
    public let endID: Int
    /// The special tokens' spellings (open_clip 3.x names them `<start_of_text>` / `<end_of_text>`).
    public static let startToken = "<start_of_text>"
    public static let endToken = "<end_of_text>"
    /// CLIP's text context length.
    public static let contextLength = 77
    let cache = PieceCache()

    /// Number of ids.
    public var vocabularySize: Int { idToToken.count }

    /// Reads `bpe_simple_vocab_16e6.txt.gz` (gzip of a merges list whose first line is a header).
    public init(bpeGzip url: URL) throws {
        let raw = try readFile(url)
        let bytes = try Gzip.decompress([UInt8](raw), file: url.path, limit: 64 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TokenizerError.malformed(file: url.path, reason: "decompressed text is not valid UTF-8")
        }
        try self.init(mergesText: text, source: url.path)
    }

    /// mergesText: the decompressed vocabulary (header line, then "left right" merge lines).
    /// CLIP uses the first 49152 - 256 - 2 = 48,894 merges.
    public init(mergesText: String, source: String = "<clip vocabulary>") throws {
        let lines = splitLines(mergesText)
        let mergeCount = 49152 - 256 - 2
        guard lines.count > mergeCount else {
            throw TokenizerError.malformed(file: source, reason: "expected at least \(mergeCount + 1) lines, found \(lines.count)")
        }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(mergeCount)
        for n in 1...mergeCount {
            // Python's str.split(): any whitespace run separates; exactly two symbols expected.
            let parts = lines[n].split(whereSeparator: { $0.unicodeScalars.allSatisfy(CharClass.isPythonSpace) })
            guard parts.count == 2 else {
                throw TokenizerError.malformed(file: source, reason: "merge line \(n + 1) is not two symbols: \(String(lines[n].prefix(80)).debugDescription)")
            }
            pairs.append((parts[0], parts[1]))
        }
        var list: [String] = ByteLevel.clipOrder.map { String(ByteLevel.byteToScalar[Int($0)]) }
        list += list.map { $0 + "</w>" }
        for (a, b) in pairs { list.append(String(a) + String(b)) }
        list += [Self.startToken, Self.endToken]
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(list.count)
        for (id, s) in list.enumerated() { vocab[s] = id } // a repeated symbol keeps its last id, as dict(zip()) does
        self.vocab = vocab
        self.idToToken = list
        self.merges = try BPEMerges(merges: pairs, vocab: vocab, file: source)
        func id(_ s: String) throws -> Int {
            guard let i = vocab[s] else { throw TokenizerError.unknownSymbol(file: source, symbol: s) }
            return i
        }
        self.byteIDs = try ByteLevel.byteToScalar.map { Int32(try id(String($0))) }
        self.byteEndIDs = try ByteLevel.byteToScalar.map { Int32(try id(String($0) + "</w>")) }
        self.startID = try id(Self.startToken)
        self.endID = try id(Self.endToken)
    }

    /// Pieces of cleaned text by CLIP's pattern (case-insensitive, text already lower-cased):
    /// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`;
    /// characters matching none (whitespace) are skipped. text: [scalars].
    static func pieces(_ t: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let specials = [Array(startToken.unicodeScalars), Array(endToken.unicodeScalars)]
        @inline(__always) func lowerIs(_ k: Int, _ c: Unicode.Scalar) -> Bool {
            k < t.count && (t[k] == c || (t[k].value < 128 && t[k].value | 0x20 == c.value))
        }
        var i = 0
        outer: while i < t.count {
            let c = t[i]
            if c == "<" {
                for s in specials where i + s.count <= t.count && t[i..<(i + s.count)].elementsEqual(s) {
                    out.append(i..<(i + s.count)); i += s.count; continue outer
                }
            }
            if c == "'" {
                if lowerIs(i + 1, "s") || lowerIs(i + 1, "t") || lowerIs(i + 1, "m") || lowerIs(i + 1, "d") {
                    out.append(i..<(i + 2)); i += 2; continue
                }
                if (lowerIs(i + 1, "r") && lowerIs(i + 2, "e")) || (lowerIs(i + 1, "v") && lowerIs(i + 2, "e"))
                    || (lowerIs(i + 1, "l") && lowerIs(i + 2, "l")) {
                    out.append(i..<(i + 3)); i += 3; continue
                }
            }
            let k = PreTokenizer.classCode(c)
            switch k {
            case 0:
                var j = i + 1
                while j < t.count && CharClass.isLetter(t[j]) { j += 1 }
                out.append(i..<j); i = j
            case 1:
                out.append(i..<(i + 1)); i += 1
            case 2:
                var j = i + 1
                while j < t.count && PreTokenizer.classCode(t[j]) == 2 { j += 1 }
                out.append(i..<j); i = j
            default:
                i += 1
            }
        }
        return out
    }

    /// Token ids of `text` without start/end tokens (open_clip `SimpleTokenizer.encode`).
    public func encode(_ text: String) -> [Int] {
        let cleaned = Array(CLIPTextCleaner.clean(text).unicodeScalars)
        var out: [Int] = []
        for r in Self.pieces(cleaned) {
            let piece = cleaned[r]
            if piece.first == "<" && piece.last == ">" {
                let s = String(String.UnicodeScalarView(piece))
                if s == Self.startToken { out.append(startID); continue }
                if s == Self.endToken { out.append(endID); continue }
            }
            var bytes: [UInt8] = []
            for s in piece { bytes.append(contentsOf: UTF8.encode(s)!) }
            out.append(contentsOf: pieceIDs(bytes).lazy.map { Int($0) })
        }
        return out
    }

    func pieceIDs(_ bytes: [UInt8]) -> [Int32] {
        if let hit = cache.get(bytes) { return hit }
        var symbols = bytes.map { byteIDs[Int($0)] }
        symbols[symbols.count - 1] = byteEndIDs[Int(bytes[bytes.count - 1])]
        merges.apply(&symbols)
        cache.put(bytes, symbols)
        return symbols
    }

    /// [contextLength] ids: start, the text's ids, end, zero padding; when too long the ids are
    /// cut to the context and the last one replaced by the end token (open_clip `tokenize`).
    public func tokenize(_ text: String, contextLength: Int = CLIPTokenizer.contextLength) -> [Int] {
        let length = max(contextLength, 0)
        var ids = [startID] + encode(text) + [endID]
        if ids.count > length {
            ids.removeLast(ids.count - length)
            if length > 0 { ids[length - 1] = endID }
        }
        return ids + [Int](repeating: 0, count: length - ids.count)
    }

    /// The symbol of `id`, or nil outside the vocabulary.
    public func token(_ id: Int) -> String? { id >= 0 && id < idToToken.count ? idToToken[id] : nil }

    /// open_clip `decode`: symbols concatenated, byte characters back to bytes, UTF-8 decoded
    /// with U+FFFD for invalid sequences, every "</w>" replaced by a space (special tokens are
    /// kept as their spelling).
    public func decode(_ ids: [Int]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let t = token(id) else { throw TokenizerError.unknownID(id) }
            for s in t.unicodeScalars {
                if let b = ByteLevel.byte(for: s) { bytes.append(b) } else { bytes.append(contentsOf: UTF8.encode(s)!) }
            }
        }
        // Replacing the ASCII "</w>" in bytes gives the same text as replacing it after decoding.
        var replaced: [UInt8] = []
        replaced.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x3c, i + 3 < bytes.count, bytes[i + 1] == 0x2f, bytes[i + 2] == 0x77, bytes[i + 3] == 0x3e {
                replaced.append(0x20); i += 4
            } else {
                replaced.append(bytes[i]); i += 1
            }
        }
        return String(decoding: replaced, as: UTF8.self)
    }
}
