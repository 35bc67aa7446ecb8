import Foundation
import SwiftCapTensor

/// BLEU-1..4 as pycocoevalcap 1.2 computes it (`Bleu(4)`, option "closest"): corpus-level clipped
/// n-gram precisions with the brevity penalty from the summed "closest" reference lengths (ties go to
/// the shorter reference), plus the per-image scores it reports alongside.
public struct BleuScorer: Sendable {
    public static let maxOrder = 4

    /// Sufficient statistics of one image: candidate length, "closest" reference length, and per
    /// order the candidate's n-gram count and its clipped matches. Corpus BLEU sums them over images.
    public struct Stats: Sendable, Equatable {
        public var testLength = 0
        public var refLength = 0
        public var guess = [Int](repeating: 0, count: 4)
        public var correct = [Int](repeating: 0, count: 4)
    }

    /// Corpus BLEU-`order` (1...4) of images taken `weights[i]` times each (all ones: the corpus
    /// score `score` reports). Used to bootstrap corpus BLEU, which is not a mean of per-image scores.
    public static func corpusBleu(_ stats: [Stats], weights: [Int], order: Int = 4) -> Double {
        var totalTest = 0, totalRef = 0
        var guess = [Int](repeating: 0, count: 4), correct = [Int](repeating: 0, count: 4)
        for (st, w) in zip(stats, weights) where w != 0 {
            totalTest += w * st.testLength
            totalRef += w * st.refLength
            for k in 0..<4 {
                guess[k] += w * st.guess[k]
                correct[k] += w * st.correct[k]
            }
        }
        let tiny = 1e-15, small = 1e-9
        var bleu = 1.0
        for k in 0..<order { bleu *= (Double(correct[k]) + tiny) / (Double(guess[k]) + small) }
        var score = pow(bleu, 1.0 / Double(order))
        let ratio = (Double(totalTest) + tiny) / (Double(totalRef) + small)
        if ratio < 1 { score *= exp(1 - 1 / ratio) }
        return score
    }

    public init() {}

    /// candidates[i]: token ids of image i's candidate; references[i]: its references' token ids.
    /// Returns corpus BLEU-1..4 and per-image BLEU-1..4 ([image][order]).
    func score(candidates: [[UInt32]], references: [[[UInt32]]], device: Device) -> (corpus: [Double], perImage: [[Double]], stats: [Stats]) {
        let n = candidates.count
        var stats = [Stats](repeating: Stats(), count: n)
        stats.withUnsafeMutableBufferPointer { out in
            let out = out
            device.parallelFor(n, costPerItem: 400) { start, end in
                for i in start..<end { out[i] = BleuScorer.stats(candidates[i], references[i]) }
            }
        }
        let tiny = 1e-15, small = 1e-9
        var perImage: [[Double]] = []
        perImage.reserveCapacity(n)
        var totalTest = 0, totalRef = 0
        var guess = [Int](repeating: 0, count: 4), correct = [Int](repeating: 0, count: 4)
        for st in stats {
            totalTest += st.testLength
            totalRef += st.refLength
            var row = [Double](repeating: 0, count: 4)
            var bleu = 1.0
            for k in 0..<4 {
                guess[k] += st.guess[k]
                correct[k] += st.correct[k]
                bleu *= (Double(st.correct[k]) + tiny) / (Double(st.guess[k]) + small)
                row[k] = pow(bleu, 1.0 / Double(k + 1))
            }
            let ratio = (Double(st.testLength) + tiny) / (Double(st.refLength) + small)
            if ratio < 1 { for k in 0..<4 { row[k] *= exp(1 - 1 / ratio) } }
            perImage.append(row)
        }
        var corpus = [Double](repeating: 0, count: 4)
        var bleu = 1.0
        for k in 0..<4 {
            bleu *= (Double(correct[k]) + tiny) / (Double(guess[k]) + small)
            corpus[k] = pow(bleu, 1.0 / Double(k + 1))
        }
        let ratio = (Double(totalTest) + tiny) / (Double(totalRef) + small)
        if ratio < 1 { for k in 0..<4 { corpus[k] *= exp(1 - 1 / ratio) } }
        return (corpus, perImage, stats)
    }

    static func stats(_ candidate: [UInt32], _ references: [[UInt32]]) -> Stats {
        var st = Stats()
        let testLen = candidate.count
        st.testLength = testLen
        // "closest": the reference length nearest the candidate's, the shorter one on ties.
        var best: (Int, Int)? = nil
        var maxCounts = [[NGram: Int]](repeating: [:], count: 4)
        for ref in references {
            let key = (abs(ref.count - testLen), ref.count)
            if let b = best, !(key < b) {} else { best = key }
            let counts = ngramCounts(ref)
            for k in 0..<4 { for (g, c) in counts[k] where c > maxCounts[k][g, default: 0] { maxCounts[k][g] = c } }
        }
        st.refLength = best?.1 ?? 0
        let counts = ngramCounts(candidate)
        for k in 0..<4 {
            st.guess[k] = max(0, testLen - k)
            var c = 0
            for (g, cnt) in counts[k] { c += min(maxCounts[k][g] ?? 0, cnt) }
            st.correct[k] = c
        }
        return st
    }
}
