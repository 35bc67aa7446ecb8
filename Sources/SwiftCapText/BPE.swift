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

    /// Merges `symbols` in place; symbols: [count] vocabulary ids. Short words use the direct
    /// scan; long ones (where the scan would be quadratic) a heap over pair positions, which
    /// yields the same result: lowest rank first, leftmost first among equal ranks.
    func apply(_ symbols: inout [Int32]) {
        if symbols.count > 48 { applyHeap(&symbols); return }
        applyScan(&symbols)
    }

    /// O(n log n) merging: a min-heap of (rank, position) over a linked list of symbols; stale
    /// entries (whose pair has changed since they were pushed) are skipped when popped.
    func applyHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        var ids = symbols
        var prev = (0..<n).map { $0 - 1 }
        var next = (0..<n).map { $0 + 1 }
        var alive = [Bool](repeating: true, count: n)
        struct Entry { var rank: Int32; var pos: Int; var left: Int32; var right: Int32; var merged: Int32 }
        var heap: [Entry] = []
        func less(_ a: Entry, _ b: Entry) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos }
        func push(_ e: Entry) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if !less(heap[i], heap[p]) { break }
                heap.swapAt(i, p); i = p
            }
        }
        func pop() -> Entry {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && less(heap[l], heap[m]) { m = l }
                    if r < heap.count && less(heap[r], heap[m]) { m = r }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
            return top
        }
        func consider(_ pos: Int) {
            let nx = next[pos]
            guard pos >= 0, nx < n else { return }
            let key = UInt64(UInt32(ids[pos])) << 32 | UInt64(UInt32(ids[nx]))
            if let m = table[key] { push(Entry(rank: m.rank, pos: pos, left: ids[pos], right: ids[nx], merged: m.merged)) }
        }
        for i in 0..<(n - 1) { consider(i) }
        while !heap.isEmpty {
            let e = pop()
            let nx = next[e.pos]
            guard alive[e.pos], nx < n, ids[e.pos] == e.left, ids[nx] == e.right else { continue }
            ids[e.pos] = e.merged
            alive[nx] = false
            next[e.pos] = next[nx]
            if next[nx] < n { prev[next[nx]] = e.pos }
            if prev[e.pos] >= 0 { consider(prev[e.pos]) }
            consider(e.pos)
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        symbols = out
    }

    /// The direct procedure of GPT-2's encoder.py: find the lowest-ranked adjacent pair, merge
    /// all its occurrences left to right, repeat.
    func applyScan(_ symbols: inout [Int32]) {
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
