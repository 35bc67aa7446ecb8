import Foundation
import XCTest
@testable import SwiftCapMetrics

/// The figures of `swiftcap bench quant-quality`, checked against independent computations.
final class QuantQualityTests: XCTestCase {
    func testTopOneAgreementCountsMatchingPositions() {
        XCTAssertEqual(QuantQuality.topOneAgreement([1, 2, 3, 4], [1, 0, 3, 0]), 0.5)
        XCTAssertEqual(QuantQuality.topOneAgreement([7, 7, 7], [7, 7, 7]), 1)
        XCTAssertEqual(QuantQuality.topOneAgreement([], []), 0)
        XCTAssertEqual(QuantQuality.argmax([0.1, 0.9, 0.9, -3][...]), 1)
        XCTAssertEqual(QuantQuality.argmax([5, 1][1...]), 0)
    }

    /// Uniform logits over V words: every token costs log V, so perplexity is exactly V.
    func testUniformLogitsGivePerplexityOfTheVocabularySize() {
        let v = 50, targets = [3, 0, 49, 7]
        let nll = QuantQuality.negativeLogLikelihood(logits: Array(repeating: 1.5, count: v * targets.count), vocabulary: v, targets: targets)
        XCTAssertEqual(nll, 4 * log(50.0), accuracy: 1e-9)
        XCTAssertEqual(QuantQuality.perplexity(totalNLL: nll, tokens: targets.count), 50, accuracy: 1e-9)
    }

    /// Logits log 1, log 2, log 3 are probabilities 1/6, 2/6, 3/6.
    func testNegativeLogLikelihoodMatchesHandComputedProbabilities() {
        let probabilities: [Double] = [1, 2, 3]
        let row: [Float] = probabilities.map { (p: Double) -> Float in Float(Foundation.log(p)) }
        let nll = QuantQuality.negativeLogLikelihood(logits: row + row, vocabulary: 3, targets: [2, 0])
        XCTAssertEqual(nll, -log(3.0 / 6) - log(1.0 / 6), accuracy: 1e-6)
    }

    /// Logits 0, 1, 2 shifted by ±1000 (exact in Float): softmax computed here in Double from e^0, e^1, e^2;
    /// the shift must change nothing (no overflow or underflow).
    func testLargeLogitsAreStable() {
        let z = 1 + M_E + M_E * M_E
        for offset: Float in [0, 1000, -1000] {
            let row: [Float] = [0, 1, 2].map { $0 + offset }
            let nll = QuantQuality.negativeLogLikelihood(logits: row + row, vocabulary: 3, targets: [2, 0])
            XCTAssertEqual(nll, -log(M_E * M_E / z) - log(1 / z), accuracy: 1e-9, "offset \(offset)")
        }
        XCTAssertTrue(QuantQuality.perplexity(totalNLL: 1, tokens: 0).isNaN)
    }
}
