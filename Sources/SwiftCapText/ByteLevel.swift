/// GPT-2's reversible byte <-> character table: every byte maps to a printable Unicode scalar
/// so that BPE can work on strings without whitespace or control characters.
/// Printable Latin-1 bytes ('!'...'~', '¡'...'¬', '®'...'ÿ') map to themselves; the other 68
/// bytes map, in increasing byte order, to U+0100, U+0101, ...
public enum ByteLevel {
    /// byteToScalar[b]: the character standing for byte b.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintable(b) {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The 256 byte characters in the order CLIP lists them in its vocabulary: the printable
    /// bytes first (in byte order), then the remapped ones.
    static let clipOrder: [UInt8] = (0..<256).filter { isPrintable($0) }.map { UInt8($0) }
        + (0..<256).filter { !isPrintable($0) }.map { UInt8($0) }

    static func isPrintable(_ b: Int) -> Bool {
        (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
    }

    /// Inverse of `byteToScalar`, or nil when the scalar stands for no byte.
    @inline(__always)
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if v < 256 { return isPrintable(Int(v)) ? UInt8(v) : nil }
        if v < 256 + 68 { return nonPrintableBytes[Int(v - 256)] }
        return nil
    }

    private static let nonPrintableBytes: [UInt8] = (0..<256).filter { !isPrintable($0) }.map { UInt8($0) }

    /// The byte-level spelling of `bytes` (what the vocabulary's keys look like).
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }
}

/// Unicode character classes used by the pre-tokenizers (general categories from the Swift
/// standard library's Unicode tables).
enum CharClass {
    /// \p{L}: any letter category.
    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return (s.value | 0x20) >= 0x61 && (s.value | 0x20) <= 0x7a }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// \p{N}: decimal, letter and other numbers.
    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return s.value >= 0x30 && s.value <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// \s as Oniguruma and Python's `regex` module read it: the Unicode White_Space property.
    @inline(__always) static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return s.value == 0x20 || (s.value >= 0x09 && s.value <= 0x0d) }
        return s.properties.isWhitespace
    }

    /// Python's `str.isspace()` (what `str.split()` and `str.strip()` use): White_Space plus
    /// the information separators U+001C...U+001F.
    @inline(__always) static func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
        if s.value >= 0x1c && s.value <= 0x1f { return true }
        return isWhitespace(s)
    }
}
