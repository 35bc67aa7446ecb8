import Foundation

/// Picks, from a pool of captions, the one that agrees most with the others (minimum-Bayes-risk
/// selection under a CIDEr-D-style gain): tf-idf over 1–4-grams with document frequencies from the
/// pool, clipped products, Gaussian length penalty σ = 6, each other caption weighted by how well it
/// matched the query.
public struct ConsensusReranker: Sendable {
    public var maxN = 4
    public var sigma: Double = 6

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
        // Intern n-grams as integer ids; count document frequencies over the pool.
        var gramIDs: [String: Int32] = [:]
        var df: [Int] = []
        var rawCounts: [[[Int32: Int]]] = []
        var lengths: [Int] = []
        for text in pool {
            let words = ConceptVocabulary.tokenize(text)
            lengths.append(words.count)
            var perN: [[Int32: Int]] = []
            for order in 0..<maxN {
                let k = order + 1
                var c: [Int32: Int] = [:]
                var i = 0
                while i + k <= words.count {
                    let key = words[i..<(i + k)].joined(separator: " ")
                    let id: Int32
                    if let e = gramIDs[key] { id = e } else {
                        id = Int32(gramIDs.count)
                        gramIDs[key] = id
                        df.append(0)
                    }
                    c[id, default: 0] += 1
                    i += 1
                }
                for id in c.keys { df[Int(id)] += 1 }
                perN.append(c)
            }
            rawCounts.append(perN)
        }
        let logN = log(Double(n))
        let vectors: [Vector] = rawCounts.enumerated().map { (i, perN) in
            var ids: [[Int32]] = [], ws: [[Double]] = [], norms: [Double] = []
            for c in perN {
                let sorted = c.keys.sorted()
                let w = sorted.map { Double(c[$0]!) * (logN - log(Double(max(1, df[Int($0)])))) }
                ids.append(sorted)
                ws.append(w)
                norms.append(w.reduce(0) { $0 + $1 * $1 }.squareRoot())
            }
            return Vector(ids: ids, weights: ws, norms: norms, length: lengths[i])
        }
        let w = weights ?? [Double](repeating: 1, count: n)
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
