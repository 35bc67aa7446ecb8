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

    /// Every pool caption as sparse tf-idf vectors per n, stored flat: the n-grams of caption c and order
    /// k (0-based) are `ids[start[c * maxN + k] ..< start[c * maxN + k + 1]]` (ids sorted) with `weights`
    /// alongside; `norms[c * maxN + k]` is that vector's length, `lengths[c]` the caption's word count.
    struct PoolVectors {
        var ids: [Int32] = []
        var weights: [Double] = []
        var start: [Int] = [0]
        var norms: [Double] = []
        var lengths: [Int] = []
    }

    /// For each caption in `candidates` (indices into `pool`), the weighted mean similarity to every
    /// caption of the pool, itself included. `weights` default to 1.
    public func scores(_ pool: [String], weights: [Double]? = nil, candidates: [Int]? = nil) -> [Double] {
        let n = pool.count
        let cand = candidates ?? Array(0..<n)
        if n == 0 { return [] }
        if n == 1 { return cand.map { _ in 1 } }
        let v = vectors(pool)
        let w = weights ?? [Double](repeating: 1, count: n)
        if method == .centroid { return centroidScores(v, weights: w, candidates: cand) }
        return cand.map { i in
            var total = 0.0, wsum = 0.0
            // The caption's own vote counts too (minimum Bayes risk over the whole pool).
            for j in 0..<n {
                total += w[j] * similarity(v, i, j)
                wsum += w[j]
            }
            return wsum > 0 ? total / wsum : 0
        }
    }

    /// Builds the tf-idf vectors with document frequencies from the pool. Words are interned, then
    /// n-grams as (id of the (n-1)-gram prefix, word) pairs, so every n-gram gets an integer id without
    /// building strings.
    func vectors(_ pool: [String]) -> PoolVectors {
        let n = pool.count
        var wordIDs: [Substring: UInt32] = [:]
        var hashedIDs: [UInt64: UInt32] = [:]
        var gramIDs: [UInt64: Int32] = [:]
        var df: [Int32] = []
        var v = PoolVectors()
        v.start.reserveCapacity(n * maxN + 1)
        v.lengths.reserveCapacity(n)
        var counts: [Int32] = []
        var grams: [Int32] = []
        var prefix: [Int32] = []
        for text in pool {
            let words = wordIDsOf(text, &wordIDs, &hashedIDs)
            v.lengths.append(words.count)
            prefix.removeAll(keepingCapacity: true)
            prefix.append(contentsOf: repeatElement(-1, count: words.count))  // id of the (k-1)-gram at i
            for order in 0..<maxN {
                let k = order + 1
                grams.removeAll(keepingCapacity: true)
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
                var last: Int32 = -1
                for g in grams {
                    if g == last { counts[counts.count - 1] += 1 } else {
                        v.ids.append(g); counts.append(1); df[Int(g)] += 1; last = g
                    }
                }
                v.start.append(v.ids.count)
            }
        }
        let logN = log(Double(n))
        let idf = df.map { logN - log(Double(max(1, $0))) }
        v.weights = zip(v.ids, counts).map { Double($1) * idf[Int($0)] }
        v.norms = (0..<(n * maxN)).map { r in
            var s = 0.0
            for p in v.start[r]..<v.start[r + 1] { s += v.weights[p] * v.weights[p] }
            return s.squareRoot()
        }
        return v
    }

    /// The weighted mean gain against the pool through per-length centroids of the unit n-gram vectors:
    /// Σ_j w_j sim(i, j) = Σ_L lp(len_i − L) Σ_k a_k · (Σ_{len_j = L} w_j b_jk / |b_jk|) / |a_k| / maxN.
    func centroidScores(_ v: PoolVectors, weights w: [Double], candidates cand: [Int]) -> [Double] {
        // Only n-grams that occur in some candidate matter: give each a dense slot (n-gram ids are dense
        // 0..<count already, so an array maps them; -1 = in no candidate).
        let gramCount = Int(v.ids.max() ?? -1) + 1
        var slotOfGram = [Int](repeating: -1, count: gramCount)
        var slots = 0
        for i in cand { for p in v.start[i * maxN]..<v.start[(i + 1) * maxN] where slotOfGram[Int(v.ids[p])] < 0 { slotOfGram[Int(v.ids[p])] = slots; slots += 1 } }
        let lengths = Array(Set(v.lengths)).sorted()
        var lengthIndex: [Int: Int] = [:]
        for (li, L) in lengths.enumerated() { lengthIndex[L] = li }
        let nL = lengths.count
        // centroid[slot * nL + li] = Σ over pool captions of length lengths[li] of w_j · b_jg / |b_j,order(g)|.
        var centroid = [Double](repeating: 0, count: slots * nL)
        var wsum = 0.0
        for j in 0..<v.lengths.count {
            wsum += w[j]
            let li = lengthIndex[v.lengths[j]]!
            for k in 0..<maxN where v.norms[j * maxN + k] > 0 {
                let scale = w[j] / v.norms[j * maxN + k]
                for p in v.start[j * maxN + k]..<v.start[j * maxN + k + 1] {
                    let slot = slotOfGram[Int(v.ids[p])]
                    if slot >= 0 { centroid[slot * nL + li] += v.weights[p] * scale }
                }
            }
        }
        guard wsum > 0 else { return cand.map { _ in 0 } }
        return cand.map { i in
            let lp = lengths.map { L -> Double in
                let delta = Double(v.lengths[i] - L)
                return exp(-(delta * delta) / (2 * sigma * sigma))
            }
            var total = 0.0
            for k in 0..<maxN where v.norms[i * maxN + k] > 0 {
                var dot = 0.0
                for p in v.start[i * maxN + k]..<v.start[i * maxN + k + 1] {
                    let base = slotOfGram[Int(v.ids[p])] * nL
                    var c = 0.0
                    for li in 0..<nL { c += lp[li] * centroid[base + li] }
                    dot += v.weights[p] * c
                }
                total += dot / v.norms[i * maxN + k]
            }
            return total / Double(maxN) / wsum
        }
    }

    /// Word ids of a caption, tokenised as `ConceptVocabulary.tokenize` does. ASCII captions (nearly all)
    /// are read byte by byte and their words interned by `WordHash`, without building strings; others go
    /// through `tokenize`. Both maps hand out ids from one counter.
    func wordIDsOf(_ text: String, _ wordIDs: inout [Substring: UInt32], _ hashedIDs: inout [UInt64: UInt32]) -> [UInt32] {
        func intern(_ h: UInt64) -> UInt32 {
            if let id = hashedIDs[h] { return id }
            let id = UInt32(hashedIDs.count + wordIDs.count)
            hashedIDs[h] = id
            return id
        }
        if let hashes = WordHash.asciiWords(text.utf8) { return hashes.map(intern) }
        return ConceptVocabulary.tokenize(text).map { w in
            // Non-ASCII words get their own ids; an ASCII word here hashes to the same id as above.
            if w.utf8.allSatisfy({ $0 < 0x80 }) { return intern(WordHash.hash(w)) }
            if let id = wordIDs[w] { return id }
            let id = UInt32(hashedIDs.count + wordIDs.count)
            wordIDs[w] = id
            return id
        }
    }

    /// CIDEr-D's per-pair gain between captions a and b of the pool (without its ×10 scale).
    func similarity(_ v: PoolVectors, _ a: Int, _ b: Int) -> Double {
        var sim = 0.0
        for k in 0..<maxN {
            let ra = a * maxN + k, rb = b * maxN + k
            guard v.norms[ra] > 0 && v.norms[rb] > 0 else { continue }
            var p = v.start[ra], q = v.start[rb], dot = 0.0
            let pe = v.start[ra + 1], qe = v.start[rb + 1]
            while p < pe && q < qe {
                let ia = v.ids[p], ib = v.ids[q]
                if ia == ib { dot += min(v.weights[p], v.weights[q]) * v.weights[q]; p += 1; q += 1 }
                else if ia < ib { p += 1 } else { q += 1 }
            }
            sim += dot / (v.norms[ra] * v.norms[rb])
        }
        let delta = Double(v.lengths[a] - v.lengths[b])
        return sim * exp(-(delta * delta) / (2 * sigma * sigma)) / Double(maxN)
    }
}
