import Foundation

/// Picks, from a pool of captions, the one that agrees most with the others (minimum-Bayes-risk
/// selection under a CIDEr-D-style gain): tf-idf over 1–4-grams with document frequencies from the
/// pool, clipped products, Gaussian length penalty σ = 6, each other caption weighted by how well it
/// matched the query.
public struct ConsensusReranker: Sendable {
    public var maxN = 4
    public var sigma: Double = 6
    /// How the expected gain over the pool is computed.
    public enum Method: String, Sendable, Codable {
        /// Every candidate against every pool caption: O(candidates × pool), CIDEr-D's clipping included.
        case pairwise
        /// Every candidate against one weighted centroid per caption length: O(pool + candidates × lengths).
        /// Equal to `pairwise` except where an n-gram occurs more often in the candidate than in a pool
        /// caption (CIDEr-D's clipping, rare in one-sentence captions); lets pools of thousands vote.
        case centroid
    }
    public var method = Method.pairwise

    public init() {}

    /// A caption as sparse tf-idf vectors per n (n-gram id -> weight, ids sorted).
    struct Vector {
        var ids: [[Int32]]
        var weights: [[Double]]
        var norms: [Double]
        var length: Int
    }

    /// For each caption in `candidates` (indices into `pool`), the weighted mean similarity to every
    /// caption of the pool, itself included. `weights` default to 1.
    public func scores(_ pool: [String], weights: [Double]? = nil, candidates: [Int]? = nil) -> [Double] {
        let n = pool.count
        let cand = candidates ?? Array(0..<n)
        if n == 0 { return [] }
        if n == 1 { return cand.map { _ in 1 } }
        // Intern words, then n-grams as (id of the (n-1)-gram prefix, word) pairs, so every n-gram gets
        // an integer id without building strings; count document frequencies over the pool.
        var wordIDs: [Substring: UInt32] = [:]
        var gramIDs: [UInt64: Int32] = [:]
        var df: [Int] = []
        var rawCounts: [[(ids: [Int32], counts: [Int])]] = []  // per caption, per n: sorted ids, counts
        var lengths: [Int] = []
        rawCounts.reserveCapacity(n)
        for text in pool {
            let words: [UInt32] = ConceptVocabulary.tokenize(text).map { w in
                if let id = wordIDs[w] { return id }
                let id = UInt32(wordIDs.count)
                wordIDs[w] = id
                return id
            }
            lengths.append(words.count)
            var perN: [(ids: [Int32], counts: [Int])] = []
            var prefix = [Int32](repeating: -1, count: words.count)  // id of the (k-1)-gram starting at i
            for order in 0..<maxN {
                let k = order + 1
                var grams: [Int32] = []
                grams.reserveCapacity(max(0, words.count - k + 1))
                var i = 0
                while i + k <= words.count {
                    let key = (UInt64(UInt32(bitPattern: prefix[i] + 1)) << 32) | UInt64(words[i + k - 1])
                    let id: Int32
                    if let e = gramIDs[key] { id = e } else {
                        id = Int32(df.count)
                        gramIDs[key] = id
                        df.append(0)
                    }
                    grams.append(id)
                    prefix[i] = id
                    i += 1
                }
                grams.sort()
                var ids: [Int32] = [], counts: [Int] = []
                for g in grams {
                    if let last = ids.last, last == g { counts[counts.count - 1] += 1 } else { ids.append(g); counts.append(1) }
                }
                for id in ids { df[Int(id)] += 1 }
                perN.append((ids, counts))
            }
            rawCounts.append(perN)
        }
        let logN = log(Double(n))
        let idf = df.map { logN - log(Double(max(1, $0))) }
        let vectors: [Vector] = rawCounts.enumerated().map { (i, perN) in
            var ids: [[Int32]] = [], ws: [[Double]] = [], norms: [Double] = []
            for c in perN {
                let w = zip(c.ids, c.counts).map { Double($1) * idf[Int($0)] }
                ids.append(c.ids)
                ws.append(w)
                norms.append(w.reduce(0) { $0 + $1 * $1 }.squareRoot())
            }
            return Vector(ids: ids, weights: ws, norms: norms, length: lengths[i])
        }
        let w = weights ?? [Double](repeating: 1, count: n)
        if method == .centroid { return centroidScores(vectors, weights: w, candidates: cand) }
        return cand.map { i in
            var total = 0.0, wsum = 0.0
            // The caption's own vote counts too (minimum Bayes risk over the whole pool).
            for j in 0..<n {
                total += w[j] * similarity(vectors[i], vectors[j])
                wsum += w[j]
            }
            return wsum > 0 ? total / wsum : 0
        }
    }

    /// The weighted mean gain against the pool through per-length centroids of the unit n-gram vectors:
    /// Σ_j w_j sim(i, j) = Σ_L lp(len_i − L) Σ_k a_k · (Σ_{len_j = L} w_j b_jk / |b_jk|) / |a_k| / maxN.
    func centroidScores(_ vectors: [Vector], weights w: [Double], candidates cand: [Int]) -> [Double] {
        // Only n-grams that occur in some candidate matter: give each a dense slot.
        var slotOfGram: [Int32: Int] = [:]
        for i in cand { for k in 0..<maxN { for g in vectors[i].ids[k] where slotOfGram[g] == nil { slotOfGram[g] = slotOfGram.count } } }
        let lengths = Array(Set(vectors.map(\.length))).sorted()
        var lengthIndex: [Int: Int] = [:]
        for (li, L) in lengths.enumerated() { lengthIndex[L] = li }
        let nL = lengths.count
        // centroid[slot * nL + li] = Σ over pool captions of length lengths[li] of w_j · b_jg / |b_j,order(g)|.
        var centroid = [Double](repeating: 0, count: slotOfGram.count * nL)
        var wsum = 0.0
        for (j, v) in vectors.enumerated() {
            wsum += w[j]
            let li = lengthIndex[v.length]!
            for k in 0..<maxN where v.norms[k] > 0 {
                let scale = w[j] / v.norms[k]
                for (g, x) in zip(v.ids[k], v.weights[k]) {
                    if let slot = slotOfGram[g] { centroid[slot * nL + li] += x * scale }
                }
            }
        }
        guard wsum > 0 else { return cand.map { _ in 0 } }
        return cand.map { i in
            let a = vectors[i]
            let lp = lengths.map { L -> Double in
                let delta = Double(a.length - L)
                return exp(-(delta * delta) / (2 * sigma * sigma))
            }
            var total = 0.0
            for k in 0..<maxN where a.norms[k] > 0 {
                var dot = 0.0
                for (g, x) in zip(a.ids[k], a.weights[k]) {
                    let base = slotOfGram[g]! * nL
                    var c = 0.0
                    for li in 0..<nL { c += lp[li] * centroid[base + li] }
                    dot += x * c
                }
                total += dot / a.norms[k]
            }
            return total / Double(maxN) / wsum
        }
    }

    /// CIDEr-D's per-pair gain between two captions (without its ×10 scale).
    func similarity(_ a: Vector, _ b: Vector) -> Double {
        var sim = 0.0
        for k in 0..<maxN where a.norms[k] > 0 && b.norms[k] > 0 {
            let ia = a.ids[k], ib = b.ids[k], wa = a.weights[k], wb = b.weights[k]
            var p = 0, q = 0, dot = 0.0
            while p < ia.count && q < ib.count {
                if ia[p] == ib[q] { dot += min(wa[p], wb[q]) * wb[q]; p += 1; q += 1 }
                else if ia[p] < ib[q] { p += 1 } else { q += 1 }
            }
            sim += dot / (a.norms[k] * b.norms[k])
        }
        let delta = Double(a.length - b.length)
        return sim * exp(-(delta * delta) / (2 * sigma * sigma)) / Double(maxN)
    }
}
