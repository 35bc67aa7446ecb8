import Foundation
import SwiftCapTensor

/// Problems with the inputs of a bootstrap.
public enum BootstrapError: Error, CustomStringConvertible, Equatable {
    /// No images to resample.
    case empty
    /// The two systems were scored on different numbers of images.
    case lengthMismatch(a: Int, b: Int)
    /// Fewer than one resample requested.
    case invalidResamples(Int)
    /// Confidence level outside (0, 1).
    case invalidConfidence(Double)
    /// A per-image score is NaN or infinite (system "A" or "B", image index).
    case nonFinite(system: String, index: Int)

    public var description: String {
        switch self {
        case .empty: return "bootstrap: no per-image scores"
        case .lengthMismatch(let a, let b):
            return "bootstrap: the systems have \(a) and \(b) per-image scores; a paired comparison needs the same images"
        case .invalidResamples(let n): return "bootstrap: number of resamples must be at least 1 (got \(n))"
        case .invalidConfidence(let c): return "bootstrap: confidence must be between 0 and 1 (got \(c))"
        case .nonFinite(let s, let i): return "bootstrap: system \(s) has a non-finite score at image #\(i)"
        }
    }
}

/// A two-sided percentile interval.
public struct ConfidenceInterval: Sendable, Equatable {
    public var lower: Double
    public var upper: Double

    public init(lower: Double, upper: Double) {
        self.lower = lower
        self.upper = upper
    }

    public func contains(_ x: Double) -> Bool { lower <= x && x <= upper }
    /// True when the whole interval lies strictly on one side of zero.
    public var excludesZero: Bool { lower > 0 || upper < 0 }
}

/// A point estimate on all images and its bootstrap percentile interval.
public struct BootstrapEstimate: Sendable, Equatable {
    public var estimate: Double
    public var interval: ConfidenceInterval
}

/// Paired comparison of two systems scored on the same images.
public struct PairedComparison: Sendable, Equatable {
    /// System A's statistic on all images and its interval.
    public var a: BootstrapEstimate
    /// System B's statistic on all images and its interval.
    public var b: BootstrapEstimate
    /// A − B on all images and the interval of A − B over paired resamples.
    public var difference: BootstrapEstimate
    public var resamples: Int
    public var confidence: Double
    public var seed: UInt64

    /// True when the interval of A − B excludes zero.
    public var significant: Bool { difference.interval.excludesZero }
}

/// Paired bootstrap over images (Koehn 2004; Efron & Tibshirani's percentile interval): each
/// resample draws as many images as there are, uniformly with replacement, and the *same* draw is
/// used for both systems, so per-image correlation between them is kept. The interval is the
/// (1−c)/2 and (1+c)/2 percentiles of the resampled statistic, with numpy's default ("linear")
/// interpolation. Draws come from `SplitMix64(seed:)` with an unbiased bounded integer (Lemire's
/// method), so the same seed gives the same intervals on every platform.
///
/// For metrics whose corpus score is the mean of per-image scores (CIDEr-D: its document
/// frequencies come from the whole reference set once, exactly as pycocoevalcap computes them, and
/// are not recomputed per resample; ROUGE-L), use `compare(_:_:)` on the per-image scores. For a
/// corpus statistic that is not a mean (corpus BLEU from summed n-gram counts) use
/// `compare(count:a:b:)` with a statistic of per-image multiplicities.
public struct PairedBootstrap: Sendable {
    public var resamples: Int
    public var seed: UInt64
    public var confidence: Double

    public init(resamples: Int = 2000, seed: UInt64 = 0, confidence: Double = 0.95) {
        self.resamples = resamples
        self.seed = seed
        self.confidence = confidence
    }

    /// Mean of `a` minus mean of `b` with its paired-bootstrap interval, plus each system's own interval.
    public func compare(_ a: [Double], _ b: [Double]) throws -> PairedComparison {
        guard a.count == b.count else { throw BootstrapError.lengthMismatch(a: a.count, b: b.count) }
        try check(a, system: "A")
        try check(b, system: "B")
        let d = zip(a, b).map { $0 - $1 }
        let n = Double(a.count)
        let weighted: ([Double]) -> ([Int]) -> Double = { x in
            { w in
                var s = 0.0
                for i in 0..<x.count where w[i] != 0 { s += Double(w[i]) * x[i] }
                return s / n
            }
        }
        var r = try run(count: a.count, statistics: [weighted(a), weighted(b), weighted(d)])
        // Point estimates with numpy's summation, so they equal the corpus scores bit for bit.
        r[0].estimate = pairwiseMean(a)
        r[1].estimate = pairwiseMean(b)
        r[2].estimate = r[0].estimate - r[1].estimate
        return PairedComparison(a: r[0], b: r[1], difference: r[2], resamples: resamples, confidence: confidence, seed: seed)
    }

    /// Mean of `x` and its bootstrap interval (one system).
    public func interval(_ x: [Double]) throws -> BootstrapEstimate {
        try check(x, system: "A")
        let n = Double(x.count)
        var r = try run(count: x.count, statistics: [{ w in
            var s = 0.0
            for i in 0..<x.count where w[i] != 0 { s += Double(w[i]) * x[i] }
            return s / n
        }])
        r[0].estimate = pairwiseMean(x)
        return r[0]
    }

    /// Paired comparison of two arbitrary corpus statistics over `count` images. Each statistic is
    /// given the multiplicity of every image in a resample (all ones for the full set).
    public func compare(count: Int, a: @escaping ([Int]) -> Double, b: @escaping ([Int]) -> Double) throws -> PairedComparison {
        let r = try run(count: count, statistics: [a, b, { w in a(w) - b(w) }])
        return PairedComparison(a: r[0], b: r[1], difference: r[2], resamples: resamples, confidence: confidence, seed: seed)
    }

    /// Per-image multiplicities of each resample, in order (for tests and custom statistics).
    public func multiplicities(count: Int) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        return (0..<max(0, resamples)).map { _ in PairedBootstrap.draw(count: count, rng: &rng) }
    }

    /// Evaluates every statistic on the full set and on each resample; returns estimate and interval per statistic.
    func run(count n: Int, statistics: [([Int]) -> Double]) throws -> [BootstrapEstimate] {
        guard n > 0 else { throw BootstrapError.empty }
        guard resamples >= 1 else { throw BootstrapError.invalidResamples(resamples) }
        guard confidence > 0 && confidence < 1 else { throw BootstrapError.invalidConfidence(confidence) }
        let ones = [Int](repeating: 1, count: n)
        var values = [[Double]](repeating: [], count: statistics.count)
        for k in values.indices { values[k].reserveCapacity(resamples) }
        var rng = SplitMix64(seed: seed)
        for _ in 0..<resamples {
            let w = PairedBootstrap.draw(count: n, rng: &rng)
            for (k, f) in statistics.enumerated() { values[k].append(f(w)) }
        }
        let lo = (1 - confidence) / 2, hi = (1 + confidence) / 2
        return statistics.indices.map { k in
            let sorted = values[k].sorted()
            return BootstrapEstimate(estimate: statistics[k](ones),
                                     interval: ConfidenceInterval(lower: percentile(sorted: sorted, lo),
                                                                  upper: percentile(sorted: sorted, hi)))
        }
    }

    func check(_ x: [Double], system: String) throws {
        guard !x.isEmpty else { throw BootstrapError.empty }
        if let i = x.firstIndex(where: { !$0.isFinite }) { throw BootstrapError.nonFinite(system: system, index: i) }
    }

    /// One resample: `count` indices drawn uniformly with replacement, returned as multiplicities.
    static func draw(count n: Int, rng: inout SplitMix64) -> [Int] {
        var w = [Int](repeating: 0, count: n)
        for _ in 0..<n { w[Int(uniform(UInt64(n), rng: &rng))] += 1 }
        return w
    }

    /// Unbiased integer in [0, bound) (Lemire 2019, multiply-shift with rejection).
    static func uniform(_ bound: UInt64, rng: inout SplitMix64) -> UInt64 {
        var m = rng.next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = rng.next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }
}

/// numpy's default percentile (method "linear"): q in [0, 1] of an ascending array.
public func percentile(sorted x: [Double], _ q: Double) -> Double {
    guard !x.isEmpty else { return .nan }
    let h = Double(x.count - 1) * q
    let i = Int(h.rounded(.down))
    if i >= x.count - 1 { return x[x.count - 1] }
    let f = h - Double(i)
    return x[i] + (x[i + 1] - x[i]) * f
}
