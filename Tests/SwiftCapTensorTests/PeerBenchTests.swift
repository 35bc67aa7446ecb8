import XCTest
@testable import SwiftCapTensor

/// The peer-benchmark protocol (scripts/bench_torch_peers.py --serve) and the ratio arithmetic of `bench peers`.
final class PeerBenchTests: XCTestCase {
    func testSampleStatsOddEvenAndP90() throws {
        let odd = try XCTUnwrap(SampleStats([5, 1, 3]))
        XCTAssertEqual(odd.median, 3)
        XCTAssertEqual(odd.min, 1)
        XCTAssertEqual(odd.p90, 5)
        let even = try XCTUnwrap(SampleStats([4, 1, 3, 2]))
        XCTAssertEqual(even.median, 2.5)
        // Nearest rank: ceil(0.9 * 10) = 9th smallest of 1...10.
        XCTAssertEqual(SampleStats((1...10).map(Double.init).reversed())?.p90, 9)
        XCTAssertEqual(SampleStats((1...20).map(Double.init))?.p90, 18)
        XCTAssertNil(SampleStats([]))
    }

    func testParsesReadyLine() throws {
        let line = #"{"ready": true, "torch": "2.13.0+cpu", "threads": 2, "workloads": ["clip-vit-b32", "gpt2-beam3"], "info": {"decoder_prompt": [23, 7, 3, 1], "x": 1.5}}"#
        XCTAssertEqual(try PeerReply.parse(line),
                       .ready(framework: "2.13.0+cpu", threads: 2, workloads: ["clip-vit-b32", "gpt2-beam3"], decoderPrompt: [23, 7, 3, 1]))
        XCTAssertEqual(try PeerReply.parse(#"{"ready": true, "threads": 1}"#),
                       .ready(framework: "?", threads: 1, workloads: [], decoderPrompt: []))
    }

    func testParsesSamplesAndLogits() throws {
        XCTAssertEqual(try PeerReply.parse(#"{"name": "gpt2-greedy", "ms": [512.25, 498, 501.5]}"# + "\n"),
                       .samples(name: "gpt2-greedy", ms: [512.25, 498, 501.5]))
        XCTAssertEqual(try PeerReply.parse(#"{"logits": [0.5, -1.25, 3]}"#), .logits([0.5, -1.25, 3]))
    }

    func testRejectsMalformedAndErrorLines() {
        func assertThrows(_ line: String, _ check: (PeerProtocolError) -> Bool, file: StaticString = #filePath, line l: UInt = #line) {
            XCTAssertThrowsError(try PeerReply.parse(line), file: file, line: l) { error in
                guard let e = error as? PeerProtocolError else { return XCTFail("wrong error type \(error)", file: file, line: l) }
                XCTAssertTrue(check(e), "\(e)", file: file, line: l)
            }
        }
        let malformed: (PeerProtocolError) -> Bool = { if case .malformed = $0 { return true } else { return false } }
        assertThrows("", malformed)
        assertThrows("not json", malformed)
        assertThrows("[1, 2]", malformed)
        assertThrows(#"{"name": "clip-vit-b32", "ms": []}"#, malformed)
        assertThrows(#"{"name": "clip-vit-b32", "ms": [1, -2]}"#, malformed)
        assertThrows(#"{"name": "clip-vit-b32", "ms": "12"}"#, malformed)
        assertThrows(#"{"ready": true, "threads": 0}"#, malformed)
        assertThrows(#"{"ready": true, "threads": 2, "info": {"decoder_prompt": "1 2"}}"#, malformed)
        assertThrows(#"{"something": 1}"#, malformed)
        assertThrows(#"{"error": "KeyError: unknown workload 'x'"}"#) { $0 == .peerError("KeyError: unknown workload 'x'") }
    }

    func testRequestsAreJSONTheScriptReads() throws {
        let run = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(PeerReply.runRequest("gpt2-beam3", runs: 4).utf8)) as? [String: Any])
        XCTAssertEqual(run["run"] as? String, "gpt2-beam3")
        XCTAssertEqual(run["runs"] as? Int, 4)
        let logits = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(PeerReply.logitsRequest([3, 1, 4]).utf8)) as? [String: Any])
        XCTAssertEqual(logits["logits"] as? [Int], [3, 1, 4])
        XCTAssertFalse(PeerReply.runRequest("a", runs: 1).contains("\n"))
    }

    func testRatioUsesFastestPeerMedian() throws {
        let cmp = try XCTUnwrap(PeerComparison.best(workload: "gpt2-beam3", swift: [80, 100, 90],
                                                    peers: [("transformers", [200, 210, 190]), ("torch", [120, 100, 110]), ("empty", [])]))
        XCTAssertEqual(cmp.peerImplementation, "torch")
        XCTAssertEqual(cmp.swift.median, 90)
        XCTAssertEqual(cmp.peer.median, 110)
        XCTAssertEqual(cmp.ratio, 90.0 / 110.0, accuracy: 1e-12)
        XCTAssertFalse(cmp.meets(0.8))
        XCTAssertTrue(cmp.meets(0.9))
        XCTAssertNil(PeerComparison.best(workload: "x", swift: [], peers: [("torch", [1])]))
        XCTAssertNil(PeerComparison.best(workload: "x", swift: [1], peers: [("torch", [])]))
    }

    func testLogitsAgreement() throws {
        let a = try LogitsAgreement([0, 2, 1], [0.001, 1.999, 1.5])
        XCTAssertEqual(a.maxAbsDifference, 0.5, accuracy: 1e-6)
        XCTAssertTrue(a.sameArgmax)
        XCTAssertFalse(try LogitsAgreement([0, 2, 1], [3, 2, 1]).sameArgmax)
        XCTAssertThrowsError(try LogitsAgreement([1, 2], [1]))
        XCTAssertThrowsError(try LogitsAgreement([], []))
    }
}
