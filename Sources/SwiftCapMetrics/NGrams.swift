// Token ids and n-gram keys shared by BLEU and CIDEr-D.

/// Python's `str.split()` (no argument): splits on Unicode whitespace as `str.isspace()` defines it
/// and drops empty pieces. BLEU and CIDEr-D in pycocoevalcap split this way (ROUGE-L splits on " ").
public func pythonWhitespaceSplit(_ s: String) -> [Substring] {
    s.split(whereSeparator: { ch in ch.unicodeScalars.allSatisfy(isPythonSpace) })
}

/// `str.isspace()` for one scalar: categories Zs, Zl, Zp and the bidi classes WS, B, S.
func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// Maps token strings to dense integer ids (1-based; 0 means "no token").
struct Vocabulary {
    private var ids: [Substring: UInt32] = [:]

    mutating func id(_ token: Substring) -> UInt32 {
        if let i = ids[token] { return i }
        let i = UInt32(ids.count + 1)
        ids[token] = i
        return i
    }

    mutating func ids(_ tokens: [Substring]) -> [UInt32] { tokens.map { id($0) } }
}

/// An n-gram of 1...4 token ids packed into two words (unused slots are 0).
struct NGram: Hashable {
    let lo: UInt64
    let hi: UInt64

    /// The order (1...4) of the n-gram.
    var order: Int {
        if hi & 0xFFFF_FFFF != 0 { return 4 }
        if hi != 0 { return 3 }
        if lo & 0xFFFF_FFFF != 0 { return 2 }
        return 1
    }
}

/// Counts of all 1..n-grams of `ids` (n <= 4), grouped by order: result[k] holds the (k+1)-grams.
func ngramCounts(_ ids: [UInt32], n: Int = 4) -> [[NGram: Int]] {
    var out = [[NGram: Int]](repeating: [:], count: n)
    let m = ids.count
    for k in 1...n where m >= k {
        var d = [NGram: Int](minimumCapacity: m - k + 1)
        for i in 0...(m - k) {
            let w0 = UInt64(ids[i])
            let w1 = k > 1 ? UInt64(ids[i + 1]) : 0
            let w2 = k > 2 ? UInt64(ids[i + 2]) : 0
            let w3 = k > 3 ? UInt64(ids[i + 3]) : 0
            d[NGram(lo: w0 << 32 | w1, hi: w2 << 32 | w3), default: 0] += 1
        }
        out[k - 1] = d
    }
    return out
}
