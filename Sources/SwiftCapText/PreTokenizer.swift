/// Pre-tokenization: splitting text into the pieces BPE runs on.
///
/// GPT-2's pattern, implemented by hand over Unicode scalars:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// Alternatives are tried in order at each position, as a backtracking regex engine does.
public enum PreTokenizer: Sendable, Equatable {
    /// The GPT-2 pattern over the whole text.
    case gpt2
    /// Each \p{N} character isolated first, then the GPT-2 pattern on the runs in between
    /// (`Sequence[Digits(individual_digits), ByteLevel]`, as SmolLM2's tokenizer.json has it).
    case digitsThenGPT2

    /// Half-open scalar ranges of the pieces of `text`; text: [scalars].
    public func split(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch self {
        case .gpt2:
            Self.gpt2Pieces(text, 0, text.count, into: &out)
        case .digitsThenGPT2:
            var runStart = 0
            for i in 0..<text.count where CharClass.isNumber(text[i]) {
                if runStart < i { Self.gpt2Pieces(text, runStart, i, into: &out) }
                out.append(i..<(i + 1))
                runStart = i + 1
            }
            if runStart < text.count { Self.gpt2Pieces(text, runStart, text.count, into: &out) }
        }
        return out
    }

    /// Character class codes: 0 letter, 1 number, 2 other, 3 whitespace.
    @inline(__always) static func classCode(_ s: Unicode.Scalar) -> UInt8 {
        if CharClass.isLetter(s) { return 0 }
        if CharClass.isNumber(s) { return 1 }
        if CharClass.isWhitespace(s) { return 3 }
        return 2
    }

    /// GPT-2 pieces of text[start..<end] (the end is a hard boundary: lookahead sees nothing past it).
    static func gpt2Pieces(_ t: [Unicode.Scalar], _ start: Int, _ end: Int, into out: inout [Range<Int>]) {
        var cls = [UInt8](repeating: 0, count: end - start)
        for k in start..<end { cls[k - start] = classCode(t[k]) }
        @inline(__always) func code(_ k: Int) -> UInt8 { cls[k - start] }
        var i = start
        while i < end {
            let c = t[i]
            // 's 't 're 've 'm 'll 'd (case-sensitive)
            if c == "'" && i + 1 < end {
                let n = t[i + 1]
                if n == "s" || n == "t" || n == "m" || n == "d" {
                    out.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < end {
                    let n2 = t[i + 2]
                    if (n == "r" && n2 == "e") || (n == "v" && n2 == "e") || (n == "l" && n2 == "l") {
                        out.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
            let body = (c == " " && i + 1 < end && code(i + 1) != 3) ? i + 1 : i
            let k = code(body)
            if k != 3 {
                var j = body + 1
                while j < end && code(j) == k { j += 1 }
                out.append(i..<j); i = j
                continue
            }
            // Whitespace: `\s+(?!\S)` then `\s+`.
            var j = i + 1
            while j < end && code(j) == 3 { j += 1 }
            if j == end || j - i == 1 {
                // At the end the lookahead holds; a single whitespace before \S falls to `\s+`.
                out.append(i..<j); i = j
            } else {
                // Back off one so the run is followed by whitespace, not \S.
                out.append(i..<(j - 1)); i = j - 1
            }
        }
    }
}
