import Foundation
import XCTest
import SwiftCapTestSupport
@testable import SwiftCapFormats

final class CSVTests: XCTestCase {
    func testQuotingRules() {
        XCTAssertEqual(CSV.row(["a", "b c", ""]), "a,b c,\r\n")
        XCTAssertEqual(CSV.row(["x,y", "say \"hi\"", "l1\nl2", "r\rr"]), "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"r\rr\"\r\n")
        XCTAssertEqual(CSV.row([""]), "\"\"\r\n")
        XCTAssertEqual(CSV.row([]), "\r\n")
        XCTAssertEqual(CSV.field("plain"), "plain")
        XCTAssertEqual(CSV.field("\""), "\"\"\"\"")
    }

    /// Found by scripts/fuzz.sh (csv harness): a quote after U+0000 was not doubled (Foundation's
    /// replacingOccurrences stops at NUL), so the row read back as something else.
    func testFieldWithNULAndQuoteRoundTrips() {
        let row = ["\u{0}\u{8}p running\"֛\u{FFFD}; r", "a\u{0}\"\"b", "\u{0}"]
        XCTAssertEqual(CSV.field(row[1]), "\"a\u{0}\"\"\"\"b\"")
        XCTAssertEqual(CSV.parseRows(CSV.row(row)), [row])
    }

    func testRoundTrip() {
        let rows: [[String]] = [
            ["photo.jpg", "a dog, running", "0.5"],
            ["quote\"", "\"", "\"\"", ""],
            ["multi\r\nline", "lf\nonly", "cr\ronly"],
            ["日本", "🐶", "é"],
            [""],
            [],
            ["", "", ""],
        ]
        let text = rows.map(CSV.row).joined()
        XCTAssertEqual(CSV.parseRows(text), rows)
        // LF-only line ends and a missing final line end read the same.
        XCTAssertEqual(CSV.parseRows("a,b\nc,\"d\ne\""), [["a", "b"], ["c", "d\ne"]])
        XCTAssertEqual(CSV.parseRows(""), [])
    }

    /// Rows encoded by Python's csv module (fixtures/gen/csv_rows.py).
    func testMatchesPythonCSVModule() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/formats/csv_rows.json")
        guard let data = try? Data(contentsOf: url) else { throw missingInput("fixtures/formats/csv_rows.json") }
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(obj["cases"] as? [[String: Any]])
        XCTAssertGreaterThan(cases.count, 10)
        for c in cases {
            let fields = try XCTUnwrap(c["fields"] as? [String])
            let encoded = try XCTUnwrap(c["encoded"] as? String)
            XCTAssertEqual(Array(CSV.row(fields).unicodeScalars), Array(encoded.unicodeScalars), "\(fields)")
            XCTAssertEqual(CSV.parseRows(encoded), [fields], "\(fields)")
        }
        let document = try XCTUnwrap(obj["document"] as? String)
        let rows = try XCTUnwrap(obj["document_rows"] as? [[String]])
        XCTAssertEqual(CSV.parseRows(document), rows)
    }
}
