import Foundation
import XCTest
@testable import SwiftCapMetrics

/// Developer check: compares the Swift tokenizer with a dump of the Java tokenizer's output.
/// Set SWIFTCAP_PTB_DUMP=/path/prefix with prefix.txt (captions, one per line, joined as
/// pycocoevalcap joins them) and prefix.tok (Java PTBTokenizer -preserveLines -lowerCase output).
/// Skipped when unset (the committed parity fixtures are checked by PTBTokenizerTests).
final class PTBJavaDumpTests: XCTestCase {
    func testAgainstJavaDump() throws {
        guard let prefix = ProcessInfo.processInfo.environment["SWIFTCAP_PTB_DUMP"] else {
            throw XCTSkip("SWIFTCAP_PTB_DUMP not set")
        }
        let text = try String(contentsOfFile: prefix + ".txt", encoding: .utf8)
        let tok = try String(contentsOfFile: prefix + ".tok", encoding: .utf8)
        let captions = text.components(separatedBy: "\n")
        let javaLines = tok.components(separatedBy: "\n")
        let swift = PTBTokenizer().tokenize(captions)
        var diffs = 0
        var report = ""
        for (i, c) in captions.enumerated() {
            let j = i < javaLines.count ? javaLines[i] : ""
            let expected = j.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                .filter { !PTBTokenizer.removedPunctuation.contains($0) }.joined(separator: " ")
            if expected != swift[i] {
                diffs += 1
                report += "DIFF \(i): \(c.debugDescription)\n  java:  \(expected.debugDescription)\n  swift: \(swift[i].debugDescription)\n"
            }
        }
        report += "PTB dump: \(diffs) of \(captions.count) captions differ\n"
        try Data(report.utf8).write(to: URL(fileURLWithPath: prefix + ".diff"))
        print("PTB dump: \(diffs) of \(captions.count) captions differ (details in \(prefix).diff)")
        XCTAssertEqual(diffs, 0)
    }
}
