import Foundation
import SwiftCapTensor

/// CIDEr-D as pycocoevalcap 1.2's `Cider` class computes it: TF-IDF n-gram vectors (n = 1...4) with
/// document frequencies taken from the references of the set being scored and
/// idf = log(number of images) − log(max(1, df)); clipped cosine similarity
/// Σ min(v_cand, v_ref)·v_ref / (‖v_cand‖·‖v_ref‖); a Gaussian length penalty with σ = 6 on the
/// difference of the two captions' bigram counts (the reference's `length` counts 2-grams); the mean
/// over n, averaged over references and multiplied by 10. The corpus score is the mean over images.
public struct CiderDScorer: Sendable {
    public var sigma = 6.0

    public init(sigma: Double = 6.0) { self.sigma = sigma }

    /// TF-IDF vector of one caption: per order, n-gram → weight; norms; bigram count.
    struct Vector {
        var weights: [[NGram: Double]]
        var norms: [Double]
        var length: Int
    }

    /// candidates[i], references[i]: token ids (Python whitespace split). Returns corpus and per-image scores.
    func score(candidates: [[UInt32]], references: [[[UInt32]]], device: Device) -> (corpus: Double, perImage: [Double]) {
        let n = candidates.count
        guard n > 0 else { return (.nan, []) }
        // Per-image n-gram counts of the references (computed once) and document frequencies.
        var refCounts = [[[[NGram: Int]]]](repeating: [], count: n)
        refCounts.withUnsafeMutableBufferPointer { out in
            let out = out
            device.parallelFor(n, costPerItem: 400) { s, e in
                for i in s..<e { out[i] = references[i].map { ngramCounts($0) } }
            }
        }
        var df: [NGram: Double] = [:]
        for refs in refCounts {
            var seen = Set<NGram>()
            for r in refs { for order in r { for g in order.keys { seen.insert(g) } } }
            for g in seen { df[g, default: 0] += 1 }
        }
        let refLen = log(Double(n))
        var scores = [Double](repeating: 0, count: n)
        let sigma = self.sigma
        scores.withUnsafeMutableBufferPointer { out in
            let out = out
            device.parallelFor(n, costPerItem: 2000) { s, e in
                for i in s..<e {
                    let cand = CiderDScorer.vector(ngramCounts(candidates[i]), df: df, refLen: refLen)
                    var total = [Double](repeating: 0, count: 4)
                    for rc in refCounts[i] {
                        let ref = CiderDScorer.vector(rc, df: df, refLen: refLen)
                        let sim = CiderDScorer.similarity(cand, ref, sigma: sigma)
                        for k in 0..<4 { total[k] += sim[k] }
                    }
                    // np.mean over the 4 orders, / number of references, × 10.
                    var avg = (total[0] + total[1] + total[2] + total[3]) / 4
                    avg /= Double(refCounts[i].count)
                    avg *= 10
                    out[i] = avg
                }
            }
        }
        return (pairwiseMean(scores), scores)
    }

    static func vector(_ counts: [[NGram: Int]], df: [NGram: Double], refLen: Double) -> Vector {
        var v = Vector(weights: [[NGram: Double]](repeating: [:], count: 4), norms: [0, 0, 0, 0], length: 0)
        for k in 0..<min(4, counts.count) {
            var w = [NGram: Double](minimumCapacity: counts[k].count)
            var norm = 0.0
            for (g, tf) in counts[k] {
                let x = Double(tf) * (refLen - log(max(1.0, df[g] ?? 0)))
                w[g] = x
                norm += x * x
                if k == 1 { v.length += tf }
            }
            v.weights[k] = w
            v.norms[k] = norm.squareRoot()
        }
        return v
    }

    static func similarity(_ hyp: Vector, _ ref: Vector, sigma: Double) -> [Double] {
        let delta = Double(hyp.length - ref.length)
        let penalty = pow(M_E, -(delta * delta) / (2 * sigma * sigma))
        var val = [Double](repeating: 0, count: 4)
        for k in 0..<4 {
            var s = 0.0
            for (g, vh) in hyp.weights[k] {
                let vr = ref.weights[k][g] ?? 0
                s += min(vh, vr) * vr
            }
            if hyp.norms[k] != 0 && ref.norms[k] != 0 { s /= hyp.norms[k] * ref.norms[k] }
            val[k] = s * penalty
        }
        return val
    }
}

/// Mean with numpy's pairwise summation (blocks of 8, unrolled, as `np.mean` sums float64 arrays),
/// so means over thousands of images agree with the reference to the last few bits.
public func pairwiseMean(_ x: [Double]) -> Double {
    guard !x.isEmpty else { return .nan }
    return x.withUnsafeBufferPointer { pairwiseSum($0) } / Double(x.count)
}

func pairwiseSum(_ a: UnsafeBufferPointer<Double>) -> Double {
    let n = a.count
    if n < 8 {
        var s = -0.0
        for v in a { s += v }
        return s
    }
    if n <= 128 {
        var r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]
        var i = 8
        while i < n - (n % 8) {
            for j in 0..<8 { r[j] += a[i + j] }
            i += 8
        }
        var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n { res += a[i]; i += 1 }
        return res
    }
    var n2 = n / 2
    n2 -= n2 % 8
    return pairwiseSum(UnsafeBufferPointer(rebasing: a[0..<n2])) + pairwiseSum(UnsafeBufferPointer(rebasing: a[n2..<n]))
}
