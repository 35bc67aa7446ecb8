/// ROUGE-L as pycocoevalcap 1.2 computes it: per image, the longest common subsequence with each
/// reference gives precision and recall; the maxima over references combine into an F-measure with
/// β = 1.2; the corpus score is the mean over images. Tokens come from `split(" ")`, so an empty
/// caption is one empty token, as in the reference.
public struct RougeLScorer: Sendable {
    public static let beta = 1.2

    public init() {}

    /// candidate, references: token ids (from splitting on single spaces).
    public static func score(candidate: [UInt32], references: [[UInt32]]) -> Double {
        var precMax = 0.0, recMax = 0.0
        for ref in references {
            let l = Double(lcsLength(ref, candidate))
            precMax = max(precMax, l / Double(candidate.count))
            recMax = max(recMax, l / Double(ref.count))
        }
        if precMax != 0 && recMax != 0 {
            let b2 = beta * beta
            return ((1 + b2) * precMax * recMax) / (recMax + b2 * precMax)
        }
        return 0
    }

    /// Length of the longest common subsequence of a and b (two-row dynamic programme).
    static func lcsLength(_ a: [UInt32], _ b: [UInt32]) -> Int {
        if a.isEmpty || b.isEmpty { return 0 }
        var prev = [Int](repeating: 0, count: b.count + 1)
        var cur = prev
        for x in a {
            for j in 1...b.count {
                cur[j] = x == b[j - 1] ? prev[j - 1] + 1 : max(prev[j], cur[j - 1])
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
