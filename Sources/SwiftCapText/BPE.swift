import Foundation

/// A BPE vocabulary with ranked merges: symbol ids are merged pairwise, lowest rank first,
/// every occurrence of the chosen pair left to right, until no ranked pair remains (the
/// procedure of GPT-2's `encoder.py`, which Hugging Face `tokenizers` reproduces).
public struct BPEMerges: Sendable {
    /// Merge table: key (left id << 32 | right id) -> (rank, merged id).
    let table: [UInt64: (rank: Int32, merged: Int32)]

    /// merges: [(left, right)] pairs in rank order; vocab: symbol -> id. Every left, right and
    /// left+right must be in `vocab`.
    init(merges: [(Substring, Substring)], vocab: [String: Int], file: String) throws {
        var t: [UInt64: (rank: Int32, merged: Int32)] = [:]
        t.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[String(a)] else { throw TokenizerError.unknownSymbol(file: file, symbol: String(a)) }
            guard let ib = vocab[String(b)] else { throw TokenizerError.unknownSymbol(file: file, symbol: String(b)) }
            guard let im = vocab[String(a) + String(b)] else {
                throw TokenizerError.unknownSymbol(file: file, symbol: String(a) + String(b))
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if t[key] == nil { t[key] = (Int32(rank), Int32(im)) }
        }
        table = t
    }

    /// Merges `symbols` in place; symbols: [count] vocabulary ids.
    func apply(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = Int32.max, bestKey: UInt64 = 0, bestMerged: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = table[key], m.rank < bestRank { bestRank = m.rank; bestKey = key; bestMerged = m.merged }
            }
            if bestRank == Int32.max { return }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count,
                   UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1])) == bestKey {
                    merged.append(bestMerged); i += 2
                } else {
                    merged.append(symbols[i]); i += 1
                }
            }
            symbols = merged
        }
    }
}

/// A bounded, thread-safe memo of piece -> ids (shared by copies of a tokenizer).
final class PieceCache: @unchecked Sendable {
    private var map: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()
    private let capacity: Int

    init(capacity: Int = 20_000) { self.capacity = capacity }

    func get(_ key: [UInt8]) -> [Int32]? {
        lock.lock(); defer { lock.unlock() }
        return map[key]
    }

    func put(_ key: [UInt8], _ value: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= capacity { map.removeAll(keepingCapacity: true) }
        map[key] = value
    }
}

/// Splits merge lines "left right" (merges.txt / CLIP's vocabulary) into pairs, skipping a
/// leading "#version" line and blank lines.
func parseMergeLines<S: Sequence>(_ lines: S, file: String) throws -> [(Substring, Substring)] where S.Element == Substring {
    var out: [(Substring, Substring)] = []
    for (n, line) in lines.enumerated() {
        if line.isEmpty || (n == 0 && line.hasPrefix("#version")) { continue }
        // Split on scalars: a combining mark after the space must not fuse with it.
        let u = line.unicodeScalars
        var parts: [Substring] = []
        var start = u.startIndex
        for i in u.indices where u[i] == " " {
            parts.append(line[start..<i])
            start = u.index(after: i)
        }
        parts.append(line[start..<u.endIndex])
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw TokenizerError.malformed(file: file, reason: "merge line \(n + 1) is not two symbols separated by one space: \(String(line.prefix(80)).debugDescription)")
        }
        out.append((parts[0], parts[1]))
    }
    return out
}
