/// A small gzip (RFC 1952) / DEFLATE (RFC 1951) decoder, enough to read CLIP's
/// `bpe_simple_vocab_16e6.txt.gz` without a zlib dependency. Checks the CRC-32 and the length
/// trailer; any damage or truncation is a `TokenizerError.badGzip` naming `file`.
public enum Gzip {
    /// Decompresses every member of a gzip file. `limit` caps the output size (bytes).
    public static func decompress(_ input: [UInt8], file: String = "<gzip>", limit: Int = 1 << 30) throws -> [UInt8] {
        var out: [UInt8] = []
        var pos = 0
        repeat {
            pos = try member(input, at: pos, into: &out, file: file, limit: limit)
            // Trailing zero padding after the last member is tolerated, as gzip(1) does.
        } while pos < input.count && input[pos...].contains(where: { $0 != 0 })
        return out
    }

    private static func member(_ input: [UInt8], at start: Int, into out: inout [UInt8], file: String, limit: Int) throws -> Int {
        func fail(_ why: String) -> TokenizerError { .badGzip(file: file, reason: why) }
        guard input.count - start >= 18 else { throw fail("too short for a gzip member (\(input.count - start) bytes)") }
        guard input[start] == 0x1f, input[start + 1] == 0x8b else { throw fail("missing gzip magic bytes") }
        guard input[start + 2] == 8 else { throw fail("compression method \(input[start + 2]) is not deflate") }
        let flags = input[start + 3]
        guard flags & 0xe0 == 0 else { throw fail("reserved header flags set") }
        var pos = start + 10
        func need(_ n: Int) throws { if pos + n > input.count { throw fail("truncated header") } }
        if flags & 4 != 0 { // FEXTRA
            try need(2)
            let xlen = Int(input[pos]) | Int(input[pos + 1]) << 8
            pos += 2
            try need(xlen)
            pos += xlen
        }
        for bit in [UInt8(8), 16] where flags & bit != 0 { // FNAME, FCOMMENT: zero-terminated
            while true { try need(1); pos += 1; if input[pos - 1] == 0 { break } }
        }
        if flags & 2 != 0 { try need(2); pos += 2 } // FHCRC
        let firstOut = out.count
        var inflater = Inflater(input: input, position: pos, file: file, limit: limit)
        try inflater.run(into: &out)
        pos = inflater.alignedBytePosition
        guard pos + 8 <= input.count else { throw fail("truncated trailer") }
        func le32(_ p: Int) -> UInt32 {
            UInt32(input[p]) | UInt32(input[p + 1]) << 8 | UInt32(input[p + 2]) << 16 | UInt32(input[p + 3]) << 24
        }
        let crc = crc32(out[firstOut...])
        guard le32(pos) == crc else { throw fail("CRC-32 mismatch") }
        guard le32(pos + 4) == UInt32(truncatingIfNeeded: out.count - firstOut) else { throw fail("length mismatch") }
        return pos + 8
    }

    /// CRC-32 (IEEE, reflected) of `bytes`.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
            table[i] = c
        }
        var crc: UInt32 = 0xffff_ffff
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xffff_ffff
    }
}

/// Canonical Huffman decoding table: counts per code length and symbols ordered by code.
private struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int] = []

    /// lengths: [symbolCount] code length per symbol (0 = unused).
    init?(lengths: [Int]) {
        for l in lengths { counts[l] += 1 }
        counts[0] = 0
        var left = 1
        for len in 1..<16 {
            left <<= 1
            left -= counts[len]
            if left < 0 { return nil } // over-subscribed
        }
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        symbols = [Int](repeating: 0, count: lengths.count)
        for (sym, l) in lengths.enumerated() where l != 0 {
            symbols[offsets[l]] = sym
            offsets[l] += 1
        }
    }
}

private struct Inflater {
    let input: [UInt8]
    var position: Int
    let file: String
    let limit: Int
    var bitBuffer: UInt64 = 0
    var bitCount = 0

    init(input: [UInt8], position: Int, file: String, limit: Int) {
        self.input = input; self.position = position; self.file = file; self.limit = limit
    }

    /// Byte position just after the deflate stream (unused bits of the last byte discarded).
    var alignedBytePosition: Int { position - bitCount / 8 }

    func fail(_ why: String) -> TokenizerError { .badGzip(file: file, reason: why) }

    mutating func bits(_ n: Int) throws -> Int {
        while bitCount < n {
            guard position < input.count else { throw fail("truncated deflate stream") }
            bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
            position += 1
            bitCount += 8
        }
        let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
        bitBuffer >>= UInt64(n)
        bitCount -= n
        return v
    }

    mutating func decode(_ h: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for len in 1..<16 {
            code |= try bits(1)
            let count = h.counts[len]
            if code - count < first { return h.symbols[index + (code - first)] }
            index += count
            first += count
            first <<= 1
            code <<= 1
        }
        throw fail("invalid Huffman code")
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    mutating func run(into out: inout [UInt8]) throws {
        let start = out.count
        var last = false
        while !last {
            last = try bits(1) == 1
            switch try bits(2) {
            case 0:
                bitBuffer = 0; bitCount = 0 // stored block: skip to byte boundary
                guard position + 4 <= input.count else { throw fail("truncated stored block") }
                let len = Int(input[position]) | Int(input[position + 1]) << 8
                let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
                guard len == (~nlen & 0xffff) else { throw fail("stored block length check failed") }
                position += 4
                guard position + len <= input.count else { throw fail("truncated stored block") }
                guard out.count - start + len <= limit else { throw fail("output exceeds \(limit) bytes") }
                out.append(contentsOf: input[position..<(position + len)])
                position += len
            case 1:
                var lengths = [Int](repeating: 8, count: 288)
                for i in 144..<256 { lengths[i] = 9 }
                for i in 256..<280 { lengths[i] = 7 }
                guard let lit = Huffman(lengths: lengths),
                      let dist = Huffman(lengths: [Int](repeating: 5, count: 30)) else { throw fail("internal table") }
                try codes(lit: lit, dist: dist, out: &out, start: start)
            case 2:
                let (lit, dist) = try dynamicTables()
                try codes(lit: lit, dist: dist, out: &out, start: start)
            default:
                throw fail("invalid block type 3")
            }
        }
    }

    mutating func dynamicTables() throws -> (Huffman, Huffman) {
        let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
        guard nlen <= 286, ndist <= 30 else { throw fail("too many length or distance codes") }
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<ncode { codeLengths[order[i]] = try bits(3) }
        guard let lencode = Huffman(lengths: codeLengths) else { throw fail("bad code-length code") }
        var lengths: [Int] = []
        lengths.reserveCapacity(nlen + ndist)
        while lengths.count < nlen + ndist {
            let sym = try decode(lencode)
            switch sym {
            case 0..<16: lengths.append(sym)
            case 16:
                guard let prev = lengths.last else { throw fail("repeat with no previous length") }
                lengths.append(contentsOf: repeatElement(prev, count: 3 + (try bits(2))))
            case 17: lengths.append(contentsOf: repeatElement(0, count: 3 + (try bits(3))))
            default: lengths.append(contentsOf: repeatElement(0, count: 11 + (try bits(7))))
            }
        }
        guard lengths.count == nlen + ndist else { throw fail("code lengths overrun") }
        guard lengths[256] != 0 else { throw fail("no end-of-block code") }
        guard let lit = Huffman(lengths: Array(lengths[0..<nlen])),
              let dist = Huffman(lengths: Array(lengths[nlen...])) else { throw fail("over-subscribed Huffman lengths") }
        return (lit, dist)
    }

    mutating func codes(lit: Huffman, dist: Huffman, out: inout [UInt8], start: Int) throws {
        while true {
            let sym = try decode(lit)
            if sym < 256 {
                out.append(UInt8(sym))
            } else if sym == 256 {
                return
            } else {
                let li = sym - 257
                guard li < 29 else { throw fail("invalid length symbol \(sym)") }
                let len = Self.lengthBase[li] + (try bits(Self.lengthExtra[li]))
                let ds = try decode(dist)
                guard ds < 30 else { throw fail("invalid distance symbol \(ds)") }
                let d = Self.distBase[ds] + (try bits(Self.distExtra[ds]))
                guard d <= out.count - start else { throw fail("distance \(d) reaches before the start of the output") }
                let from = out.count - d
                for k in 0..<len { out.append(out[from + k]) }
            }
            if out.count - start > limit { throw fail("output exceeds \(limit) bytes") }
        }
    }
}
