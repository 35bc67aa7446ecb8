import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapMetrics

/// Paired bootstrap (PairedBootstrap.swift): exact point estimates, properties of the intervals,
/// determinism, errors, BLEU's corpus statistic, and agreement with numpy on fixtures/bootstrap.
final class PairedBootstrapTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testMeanDifferenceIsExactAndInsideInterval() throws {
        let a = [0.5, 1.25, 2.0, 0.0, 3.5, 1.0, 0.75, 2.25]
        let b = [0.25, 1.0, 2.5, 0.5, 1.5, 1.0, 0.25, 1.0]
        let c = try PairedBootstrap().compare(a, b)
        // Sums are exact in binary: 11.25/8 and 8.0/8.
        XCTAssertEqual(c.a.estimate, 1.40625)
        XCTAssertEqual(c.b.estimate, 1.0)
        XCTAssertEqual(c.difference.estimate, 0.40625)
        XCTAssertTrue(c.difference.interval.contains(c.difference.estimate), "\(c.difference)")
        XCTAssertTrue(c.a.interval.contains(c.a.estimate))
        XCTAssertTrue(c.b.interval.contains(c.b.estimate))
        XCTAssertLessThan(c.difference.interval.lower, c.difference.interval.upper)
        // Every resampled mean lies within [min, max] of the per-image values.
        XCTAssertGreaterThanOrEqual(c.a.interval.lower, 0)
        XCTAssertLessThanOrEqual(c.a.interval.upper, 3.5)
        XCTAssertEqual(c.resamples, 2000)
        XCTAssertEqual(c.confidence, 0.95)
    }

    func testIdenticalSystemsGiveZeroInterval() throws {
        let a = (0..<50).map { Double($0 % 7) * 0.37 + 0.1 }
        let c = try PairedBootstrap(seed: 3).compare(a, a)
        XCTAssertEqual(c.difference.estimate, 0)
        XCTAssertEqual(c.difference.interval, ConfidenceInterval(lower: 0, upper: 0))
        XCTAssertFalse(c.significant)
        XCTAssertEqual(c.a, c.b)
    }

    func testBetterOnEveryImageIsAboveZero() throws {
        let b = (0..<40).map { Double(($0 * 37) % 11) / 4 }
        let a = b.enumerated().map { $0.element + 0.05 + Double($0.offset % 3) * 0.1 }
        let c = try PairedBootstrap().compare(a, b)
        XCTAssertGreaterThan(c.difference.interval.lower, 0)
        XCTAssertTrue(c.significant)
        // And the mirror image is entirely below zero.
        let r = try PairedBootstrap().compare(b, a)
        XCTAssertLessThan(r.difference.interval.upper, 0)
        XCTAssertTrue(r.significant)
        XCTAssertEqual(r.difference.interval.lower, -c.difference.interval.upper, accuracy: 1e-12)
    }

    func testNoisyTieIsNotSignificant() throws {
        // A wins on half the images by 1, loses on the other half by 1: mean difference 0.
        let b = [Double](repeating: 1, count: 60)
        let a = (0..<60).map { $0 % 2 == 0 ? 2.0 : 0.0 }
        let c = try PairedBootstrap().compare(a, b)
        XCTAssertEqual(c.difference.estimate, 0)
        XCTAssertLessThan(c.difference.interval.lower, 0)
        XCTAssertGreaterThan(c.difference.interval.upper, 0)
        XCTAssertFalse(c.significant)
    }

    func testDeterministicWithSeed() throws {
        let a = (0..<30).map { sin(Double($0)) + 1 }, b = (0..<30).map { cos(Double($0)) + 1 }
        let x = try PairedBootstrap(resamples: 500, seed: 42).compare(a, b)
        let y = try PairedBootstrap(resamples: 500, seed: 42).compare(a, b)
        let z = try PairedBootstrap(resamples: 500, seed: 43).compare(a, b)
        XCTAssertEqual(x, y)
        XCTAssertNotEqual(x.difference.interval, z.difference.interval)
        XCTAssertEqual(x.difference.estimate, z.difference.estimate)
        // Pinned draws of seed 42 (SplitMix64 + Lemire), from a separate Python re-implementation
        // of both (integers mod 2^64): changes to the sampler show up here.
        let w = PairedBootstrap(resamples: 2, seed: 42).multiplicities(count: 5)
        XCTAssertEqual(w, [[2, 2, 0, 1, 0], [0, 2, 0, 1, 2]])
        XCTAssertEqual(w, PairedBootstrap(resamples: 2, seed: 42).multiplicities(count: 5))
    }

    func testErrors() {
        XCTAssertThrowsError(try PairedBootstrap().compare([1, 2], [1])) {
            XCTAssertEqual($0 as? BootstrapError, .lengthMismatch(a: 2, b: 1))
        }
        XCTAssertThrowsError(try PairedBootstrap().compare([], [])) { XCTAssertEqual($0 as? BootstrapError, .empty) }
        XCTAssertThrowsError(try PairedBootstrap().interval([])) { XCTAssertEqual($0 as? BootstrapError, .empty) }
        XCTAssertThrowsError(try PairedBootstrap(resamples: 0).compare([1], [1])) {
            XCTAssertEqual($0 as? BootstrapError, .invalidResamples(0))
        }
        XCTAssertThrowsError(try PairedBootstrap(confidence: 1).compare([1], [1])) {
            XCTAssertEqual($0 as? BootstrapError, .invalidConfidence(1))
        }
        XCTAssertThrowsError(try PairedBootstrap().compare([1, .nan], [1, 1])) {
            XCTAssertEqual($0 as? BootstrapError, .nonFinite(system: "A", index: 1))
        }
    }

    func testPercentileMatchesNumpyLinear() {
        // np.percentile([1, 2, 4, 8], [0, 2.5, 50, 97.5, 100]) -> 1, 1.075, 3, 7.7, 8
        let x = [1.0, 2, 4, 8]
        XCTAssertEqual(percentile(sorted: x, 0), 1)
        XCTAssertEqual(percentile(sorted: x, 0.025), 1.075, accuracy: 1e-12)
        XCTAssertEqual(percentile(sorted: x, 0.5), 3)
        XCTAssertEqual(percentile(sorted: x, 0.975), 7.7, accuracy: 1e-12)
        XCTAssertEqual(percentile(sorted: x, 1), 8)
    }

    /// Per-image CIDEr-D (document frequencies from the whole reference set) averages to the corpus
    /// CIDEr-D, and corpus BLEU recomputed from the per-image statistics equals the scorer's.
    func testEvaluatorStatisticsMatchCorpusScores() throws {
        let eval = CaptionEvaluator(device: Device(threads: 2), meteor: nil)
        let refs = [["a dog runs on the grass", "a brown dog running in a field"],
                    ["two cats sleep on a bed", "cats lying on a bed"],
                    ["a man rides a red bike", "a person on a bicycle in the street"],
                    ["a plate of food with broccoli", "some broccoli and rice on a plate"]]
        let a = try eval.evaluate(candidates: ["a dog running on grass", "a cat on a bed", "a man on a bike", "a plate of broccoli"], references: refs)
        let b = try eval.evaluate(candidates: ["a dog", "two cats on a bed", "a street", "food on a plate"], references: refs)
        let cider = try PairedBootstrap().compare(a.perImage.map(\.ciderD), b.perImage.map(\.ciderD))
        XCTAssertEqual(cider.a.estimate, a.corpus.ciderD)
        XCTAssertEqual(cider.b.estimate, b.corpus.ciderD)
        let ones = [Int](repeating: 1, count: 4)
        for k in 0..<4 {
            XCTAssertEqual(BleuScorer.corpusBleu(a.bleuStats, weights: ones, order: k + 1), a.corpus.bleu[k])
            XCTAssertEqual(BleuScorer.corpusBleu(b.bleuStats, weights: ones, order: k + 1), b.corpus.bleu[k])
        }
        // Weights 2 on every image = the corpus twice: same BLEU-2 (ratios of summed counts; up to the
        // reference's 1e-15/1e-9 smoothing, which dominates BLEU-4 here since no 4-gram matches).
        XCTAssertGreaterThan(a.bleuStats.map { $0.correct[1] }.reduce(0, +), 0)
        XCTAssertEqual(BleuScorer.corpusBleu(a.bleuStats, weights: [2, 2, 2, 2], order: 2), a.corpus.bleu[1], accuracy: 1e-8)
        XCTAssertNotEqual(BleuScorer.corpusBleu(a.bleuStats, weights: [2, 0, 0, 2], order: 2), a.corpus.bleu[1])
        let (sa, sb) = (a.bleuStats, b.bleuStats)
        let bleu = try PairedBootstrap().compare(count: 4, a: { BleuScorer.corpusBleu(sa, weights: $0) },
                                                 b: { BleuScorer.corpusBleu(sb, weights: $0) })
        XCTAssertEqual(bleu.a.estimate, a.corpus.bleu[3])
        XCTAssertEqual(bleu.difference.estimate, a.corpus.bleu[3] - b.corpus.bleu[3])
    }

    struct Fixture: Decodable {
        var a: [Double]
        var b: [Double]
        var mean_a: Double
        var mean_b: Double
        var mean_diff: Double
        var ci_a: [Double]
        var ci_b: [Double]
        var ci_diff: [Double]
    }

    /// Independent reference: numpy's paired bootstrap with its own RNG (20000 resamples,
    /// scripts/make_bootstrap_fixture.py). Different draws, so the endpoints agree statistically:
    /// within 0.01 at the default 2000 resamples, within 0.005 at 20000 (the bootstrap standard
    /// error of the mean difference here is about 0.05; a 90% instead of 95% interval would move the
    /// endpoints by about 0.016).
    func testAgreesWithNumpyBootstrap() throws {
        let url = Self.root.appendingPathComponent("fixtures/bootstrap/paired.json")
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertEqual(f.a.count, f.b.count)
        for (resamples, tol) in [(2000, 0.01), (20000, 0.005)] {
            let c = try PairedBootstrap(resamples: resamples, seed: 0).compare(f.a, f.b)
            XCTAssertEqual(c.a.estimate, f.mean_a, accuracy: 1e-12)
            XCTAssertEqual(c.b.estimate, f.mean_b, accuracy: 1e-12)
            XCTAssertEqual(c.difference.estimate, f.mean_diff, accuracy: 1e-12)
            let pairs: [(String, ConfidenceInterval, [Double])] = [("A", c.a.interval, f.ci_a), ("B", c.b.interval, f.ci_b),
                                                                  ("A-B", c.difference.interval, f.ci_diff)]
            for (name, mine, ref) in pairs {
                XCTAssertEqual(mine.lower, ref[0], accuracy: tol, "\(name) lower, \(resamples) resamples")
                XCTAssertEqual(mine.upper, ref[1], accuracy: tol, "\(name) upper, \(resamples) resamples")
            }
            XCTAssertTrue(c.significant)
        }
    }

    func testComparisonFileForms() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bootstrap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("b.json")
        try Data(#"{"x.jpg": "a dog", "y.jpg": "a cat"}"#.utf8).write(to: plain)
        let results = dir.appendingPathComponent("results.json")
        try Data(#"{"scores": {"CIDEr-D": 0.5}, "images": [{"file": "x.jpg", "caption": "a dog", "CIDEr-D": 1.0}, {"file": "y.jpg", "caption": "a cat"}]}"#.utf8).write(to: results)
        XCTAssertEqual(try loadCaptionsOrResults(plain), ["x.jpg": "a dog", "y.jpg": "a cat"])
        XCTAssertEqual(try loadCaptionsOrResults(results), ["x.jpg": "a dog", "y.jpg": "a cat"])
        XCTAssertEqual(try alignComparison(["x.jpg": "a dog", "y.jpg": "a cat", "z.jpg": "extra"], names: ["y.jpg", "x.jpg"],
                                           comparisonPath: "b.json"), ["a cat", "a dog"])
        XCTAssertThrowsError(try alignComparison(["x.jpg": "a dog"], names: ["w.jpg", "x.jpg", "y.jpg"], comparisonPath: "b.json")) {
            XCTAssertEqual($0 as? CaptionFileError, .comparisonMissingImages("b.json", ["w.jpg", "y.jpg"]))
            XCTAssertTrue("\($0)".contains("w.jpg, y.jpg"), "\($0)")
        }
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"images": [{"file": "x.jpg"}]}"#.utf8).write(to: bad)
        XCTAssertThrowsError(try loadCaptionsOrResults(bad)) {
            guard case .unexpectedShape = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
    }
}
