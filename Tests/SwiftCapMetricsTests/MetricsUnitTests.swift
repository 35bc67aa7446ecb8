import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapMetrics

/// Small hand-checkable cases and input errors.
final class MetricsUnitTests: XCTestCase {
    let device = Device(threads: 2)

    func testTokenizerBasics() {
        let t = PTBTokenizer()
        XCTAssertEqual(t.tokenize("A man's dog isn't here."), "a man 's dog is n't here")
        XCTAssertEqual(t.tokenize("\"Hi\" (there), [x] {y}!"), "hi -lrb- there -rrb- -lsb- x -rsb- -lcb- y -rcb-")
        XCTAssertEqual(t.tokenize("gonna cannot 5 1/2"), "gon na can not 5\u{A0}1/2")
        XCTAssertEqual(t.tokenize(""), "")
        XCTAssertEqual(t.tokenize("... ; : - --"), "")
        // "Co." at the end of the text gets a duplicated period (removed as punctuation); the
        // next caption decides it across a line break.
        XCTAssertEqual(t.tokenize(["made by Co.", "The end"]), ["made by co.", "the end"])
        XCTAssertEqual(t.rawTokens("made by Co.\nThe end"), ["made", "by", "Co.", ".", "The", "end"])
        XCTAssertEqual(t.rawTokens("made by Co.\nthe end"), ["made", "by", "Co.", "the", "end"])
        // Characters outside the BMP are deleted like the Java lexer does.
        XCTAssertEqual(t.tokenize("dog\u{1F436}here"), "dog here")
    }

    func testPythonWhitespaceSplit() {
        XCTAssertEqual(pythonWhitespaceSplit(" a\u{A0}b  c\t").map(String.init), ["a", "b", "c"])
        XCTAssertEqual(pythonWhitespaceSplit("").count, 0)
    }

    func testIdenticalCaptionScoresOne() throws {
        let eval = CaptionEvaluator(device: device, meteor: nil)
        let refs = [["a dog runs on the grass", "a brown dog running"], ["two cats sleep on a bed", "cats on a bed"]]
        let res = try eval.evaluate(candidates: ["a dog runs on the grass", "two cats sleep on a bed"], references: refs)
        for k in 0..<4 { XCTAssertEqual(res.corpus.bleu[k], 1, accuracy: 1e-6) }
        XCTAssertEqual(res.corpus.rougeL, 1, accuracy: 1e-12)
        XCTAssertNil(res.corpus.meteor)
        XCTAssertNil(res.corpus.spice)
        XCTAssertEqual(res.meteorUnavailable, "METEOR disabled")
    }

    func testRougeLByHand() {
        // LCS("a b c d", "a c d e") = 3: P = 3/4, R = 3/4 -> F = 0.75.
        XCTAssertEqual(RougeLScorer.score(candidate: [1, 2, 3, 4], references: [[1, 3, 4, 5]]), 0.75, accuracy: 1e-12)
        XCTAssertEqual(RougeLScorer.lcsLength([1, 2, 3], []), 0)
    }

    func testCiderZeroForDisjointAndEmpty() throws {
        let eval = CaptionEvaluator(device: device, meteor: nil)
        let res = try eval.evaluate(candidates: ["", "zebra zebra"], references: [["a dog"], ["a cat on a mat"]])
        XCTAssertEqual(res.perImage[0].ciderD, 0)
        XCTAssertEqual(res.perImage[1].ciderD, 0)
        XCTAssertEqual(res.corpus.bleu[0], 0, accuracy: 1e-6)
    }

    func testPairwiseMeanMatchesPlainMeanClosely() {
        let x = (0..<1000).map { Double($0) * 0.001 }
        XCTAssertEqual(pairwiseMean(x), 0.4995, accuracy: 1e-12)
        XCTAssertTrue(pairwiseMean([]).isNaN)
    }

    func testEvaluatorInputErrors() {
        let eval = CaptionEvaluator(device: device, meteor: nil)
        XCTAssertThrowsError(try eval.evaluate(candidates: [], references: [])) { XCTAssertEqual($0 as? EvaluationError, .empty) }
        XCTAssertThrowsError(try eval.evaluate(candidates: ["a"], references: [])) {
            XCTAssertEqual($0 as? EvaluationError, .countMismatch(candidates: 1, references: 0))
        }
        XCTAssertThrowsError(try eval.evaluate(candidates: ["a"], references: [[]])) {
            XCTAssertEqual($0 as? EvaluationError, .noReferences(index: 0))
        }
    }

    func tmp(_ name: String, _ text: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-metrics-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testReferenceFormatsAndErrors() throws {
        let simple = try ReferenceSet.load(try tmp("r1.json", #"{"b.jpg": ["two", "three"], "a.jpg": ["one"]}"#))
        XCTAssertEqual(simple.imageNames, ["a.jpg", "b.jpg"])
        XCTAssertEqual(simple.captions["b.jpg"], ["two", "three"])
        let coco = try ReferenceSet.load(try tmp("r2.json", """
            {"images": [{"id": 7, "file_name": "x.jpg"}], "annotations": [{"image_id": 7, "id": 1, "caption": "c1"},
             {"image_id": 7, "id": 2, "caption": "c2"}]}
            """))
        XCTAssertEqual(coco.captions["x.jpg"], ["c1", "c2"])

        let missing = URL(fileURLWithPath: "/nonexistent/refs.json")
        XCTAssertThrowsError(try ReferenceSet.load(missing)) { XCTAssertEqual($0 as? CaptionFileError, .missing(missing.path)) }
        XCTAssertThrowsError(try ReferenceSet.load(try tmp("bad.json", "{\"a.jpg\": [\"x\""))) {
            guard case .malformedJSON = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try ReferenceSet.load(try tmp("shape.json", "[1, 2]"))) {
            guard case .unexpectedShape = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try ReferenceSet.load(try tmp("shape2.json", #"{"a.jpg": "not a list"}"#))) {
            guard case .unexpectedShape = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try ReferenceSet.load(try tmp("empty.json", "{}"))) {
            guard case .noReferences = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try ReferenceSet.load(try tmp("trunc.json", ""))) {
            guard case .malformedJSON = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try loadCaptions(try tmp("c.json", #"{"a.jpg": 3}"#))) {
            guard case .unexpectedShape = $0 as? CaptionFileError else { return XCTFail("\($0)") }
        }
    }

    func testAlignCaptions() throws {
        let refs = ReferenceSet(captions: ["a.jpg": ["x"], "b.jpg": ["y"]])
        XCTAssertThrowsError(try alignCaptions(["a.jpg": "x", "b.jpg": "y", "c.jpg": "z"], with: refs, captionsPath: "c.json")) {
            XCTAssertEqual($0 as? CaptionFileError, .unknownImages("c.json", ["c.jpg"]))
        }
        XCTAssertThrowsError(try alignCaptions(["a.jpg": "x"], with: refs, captionsPath: "c.json")) {
            XCTAssertEqual($0 as? CaptionFileError, .missingCaptions("c.json", ["b.jpg"]))
        }
        let ok = try alignCaptions(["b.jpg": "q", "a.jpg": "p"], with: refs, captionsPath: "c.json")
        XCTAssertEqual(ok.names, ["a.jpg", "b.jpg"])
        XCTAssertEqual(ok.candidates, ["p", "q"])
    }

    func testMeteorLocateReportsMissingJar() {
        let r = MeteorScorer.locate(assets: URL(fileURLWithPath: "/nonexistent-assets"))
        guard case .failure(let why) = r else { return XCTFail("expected failure") }
        XCTAssertTrue(why.reason.contains("meteor-1.5.jar not found"))
    }
}
