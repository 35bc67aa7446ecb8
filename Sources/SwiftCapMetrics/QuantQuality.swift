import Foundation

/// The quality figures of `swiftcap bench quant-quality`: how far a quantized model's outputs move from the
/// fp32 model's (classifier top-1 agreement) and how well a language model predicts text (perplexity).
public enum QuantQuality {
    /// Fraction of positions where `a` and `b` hold the same class (0 when empty).
    public static func topOneAgreement(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count, "top-1 lists differ in length (\(a.count) vs \(b.count))")
        guard !a.isEmpty else { return 0 }
        return Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
    }

    /// Index of the largest value (the first when tied).
    public static func argmax(_ xs: ArraySlice<Float>) -> Int {
        var best = xs.startIndex
        for i in xs.indices where xs[i] > xs[best] { best = i }
        return best - xs.startIndex
    }

    /// Negative log-likelihood (natural log, summed) of `targets` under rows of logits: `logits` holds
    /// `targets.count` rows of `vocabulary` values, row i scoring targets[i]. Log-softmax in Double with the
    /// row maximum subtracted.
    public static func negativeLogLikelihood(logits: [Float], vocabulary: Int, targets: [Int]) -> Double {
        precondition(vocabulary > 0 && logits.count == targets.count * vocabulary,
                     "\(logits.count) logits for \(targets.count) targets of a \(vocabulary)-word vocabulary")
        var total = 0.0
        for (i, t) in targets.enumerated() {
            precondition(t >= 0 && t < vocabulary, "target \(t) outside the vocabulary")
            let row = logits[(i * vocabulary)..<((i + 1) * vocabulary)]
            let m = Double(row.max() ?? 0)
            var sum = 0.0
            for v in row { sum += Foundation.exp(Double(v) - m) }
            total += (m + Foundation.log(sum)) - Double(row[row.startIndex + t])
        }
        return total
    }

    /// Perplexity from a summed NLL over `tokens` predicted tokens: exp(nll / tokens).
    public static func perplexity(totalNLL: Double, tokens: Int) -> Double {
        tokens > 0 ? Foundation.exp(totalNLL / Double(tokens)) : .nan
    }
}
