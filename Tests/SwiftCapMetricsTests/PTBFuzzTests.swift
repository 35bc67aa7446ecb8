import Foundation
import XCTest
@testable import SwiftCapMetrics

/// The Swift PTB tokenizer against pycocoevalcap's tokenisation of 5,000 random strings glued
/// from tricky pieces (fixtures/metrics/ptb_fuzz.json). A handful of known differences remain
/// (abbreviations glued to the next word, URLs glued to numbers); the count must not grow.
final class PTBFuzzTests: XCTestCase {
    struct Fuzz: Decodable {
        var lines: [String]
        var tokenized: [String]
    }

    /// Differences measured when this test was written (see docs/metrics.md).
    static let knownDifferences = 7

    func testFuzzLinesMatchJavaTokenizer() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/metrics/ptb_fuzz.json")
        let fuzz = try JSONDecoder().decode(Fuzz.self, from: Data(contentsOf: url))
        XCTAssertEqual(fuzz.lines.count, 5000)
        let got = PTBTokenizer().tokenize(fuzz.lines)
        var diffs: [Int] = []
        for i in fuzz.lines.indices where got[i] != fuzz.tokenized[i] { diffs.append(i) }
        for i in diffs.prefix(10) {
            print("fuzz \(i): \(fuzz.lines[i].debugDescription)\n  java:  \(fuzz.tokenized[i].debugDescription)\n  swift: \(got[i].debugDescription)")
        }
        print("PTB fuzz: \(diffs.count) of \(fuzz.lines.count) lines differ")
        XCTAssertLessThanOrEqual(diffs.count, Self.knownDifferences)
    }
}
