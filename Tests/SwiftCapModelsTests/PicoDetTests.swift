import Foundation
import XCTest
@testable import SwiftCapModels
import SwiftCapFormats
import SwiftCapTensor

/// Paths shared by the vision tests.
enum VisionTestPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let assets = AssetPaths.fromEnvironment(repositoryRoot: root)
    static func fixture(_ name: String) -> URL { root.appendingPathComponent("fixtures/vision/\(name)") }

    /// The detector from ../shared; skips (not fails) only when the whole shared folder is absent.
    static func picoDetURL() throws -> URL {
        let url = assets.sharedFile(PicoDet.sharedRelativePath)
        if !FileManager.default.fileExists(atPath: assets.shared.path) {
            throw XCTSkip("shared folder \(assets.shared.path) is absent")
        }
        return url
    }

    /// The 64-bit LCG fixtures/gen/vision.py uses to pick sample positions.
    static func sampleIndices(_ n: Int, _ k: Int, seed: UInt64) -> [Int] {
        var state = seed
        var out: [Int] = []
        for _ in 0..<k {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            out.append(Int((state >> 33) % UInt64(n)))
        }
        return out
    }
}

final class PicoDetTests: XCTestCase {
    static let shared: PicoDet? = {
        guard let url = try? VisionTestPaths.picoDetURL() else { return nil }
        return try? PicoDet(contentsOf: url)
    }()

    func model() throws -> PicoDet {
        let url = try VisionTestPaths.picoDetURL()
        if let m = Self.shared { return m }
        return try PicoDet(contentsOf: url)  // throws the real error
    }

    /// Every element of all 8 outputs for a synthetic input within 1e-3 of onnxruntime.
    func testRawOutputsMatchOnnxRuntimeOnSyntheticInput() throws {
        let det = try model()
        XCTAssertGreaterThan(det.executor.fusedNodes, 300, "hard-swish / ReLU / HardSigmoid folding")
        let x = Tensor(zeros: [1, 3, 416, 416])
        let p = x.contiguousPointer
        for c in 0..<3 { for h in 0..<416 { for w in 0..<416 {
            p[(c * 416 + h) * 416 + w] = Float((c * 7 + h * 3 + w * 5) % 17 - 8) / 4
        } } }
        let (scores, boxes) = try det.rawOutputs(x, device: Device(threads: 2))
        let data = try Data(contentsOf: VisionTestPaths.fixture("picodet_synthetic_outputs.f32"))
        var offset = 0
        var worst: Float = 0
        for t in scores + boxes {
            let n = t.count
            XCTAssertLessThanOrEqual((offset + n) * 4, data.count)
            let ref: [Float] = data.withUnsafeBytes { raw in
                (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: (offset + $0) * 4, as: UInt32.self))) }
            }
            let err = try t.maxAbsDifference(Tensor(ref, shape: t.shape))
            worst = max(worst, err)
            offset += n
        }
        XCTAssertEqual(offset * 4, data.count, "fixture holds exactly the 8 outputs")
        print("PicoDet synthetic input: max abs error over all outputs \(worst), \(det.executor.stepCount) steps, \(det.executor.fusedNodes) nodes folded")
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }

    /// Decoding by hand: one confident cell with peaked distributions gives the box the
    /// PicoHead convention (centre = cell index × stride) implies, scaled to the image.
    func testDecodeOneCellByHand() throws {
        var config = PicoDetConfig()
        config.scoreThreshold = 0.5
        let spec = GraphSpec(source: "hand", nodes: [], constants: [:], input: "x", outputs: (0..<8).map { "o\($0)" })
        // An executor is not needed for decode; build the model around an empty graph.
        let det = try? PicoDet(spec: spec, config: config)
        XCTAssertNil(det, "an empty graph whose outputs are never produced is rejected")
        let real = try model()
        var scores: [Tensor] = [], boxes: [Tensor] = []
        for s in config.strides {
            let n = (416 + s - 1) / s
            scores.append(Tensor(zeros: [1, n * n, 80]))
            boxes.append(Tensor(zeros: [1, n * n, 32]))
        }
        // stride 16, row 5, col 7: dog (16) at 0.9, distances 2, 3, 4, 1 bins (peaked logits).
        let n16 = 26, cell = 5 * n16 + 7
        scores[1].contiguousPointer[cell * 80 + 16] = 0.9
        for (side, bin) in [2, 3, 4, 1].enumerated() {
            for b in 0..<8 { boxes[1].contiguousPointer[cell * 32 + side * 8 + b] = b == bin ? 30 : -30 }
        }
        // a weaker overlapping dog in the neighbouring cell is suppressed by NMS; a cat is kept.
        scores[1].contiguousPointer[(cell + 1) * 80 + 16] = 0.8
        scores[1].contiguousPointer[(cell + 1) * 80 + 15] = 0.7
        for (side, bin) in [3, 3, 3, 1].enumerated() {
            for b in 0..<8 { boxes[1].contiguousPointer[(cell + 1) * 32 + side * 8 + b] = b == bin ? 30 : -30 }
        }
        var m = real
        m.config = config
        let dets = m.decode(scores: scores, boxes: boxes, imageWidth: 832, imageHeight: 416)
        XCTAssertEqual(dets.map(\.label), ["dog", "cat"])
        let cx: Float = 7 * 16, cy: Float = 5 * 16
        let b = dets[0].box
        XCTAssertEqual(b.x0, (cx - 32) * 2, accuracy: 1e-3)
        XCTAssertEqual(b.y0, cy - 48, accuracy: 1e-3)
        XCTAssertEqual(b.x1, (cx + 64) * 2, accuracy: 1e-3)
        XCTAssertEqual(b.y1, cy + 16, accuracy: 1e-3)
        XCTAssertEqual(dets[0].score, 0.9, accuracy: 1e-6)
    }

    func testMissingDetectorFileIsAClearError() {
        XCTAssertThrowsError(try PicoDet(contentsOf: URL(fileURLWithPath: "/nonexistent/picodet.onnx"))) { error in
            guard case VisionModelError.missingFile(let path, let hint)? = error as? VisionModelError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(path, "/nonexistent/picodet.onnx")
            XCTAssertTrue(hint.contains("picodet_s_416_coco.onnx"))
        }
    }

    func testExecutorRejectsUnknownOperators() {
        let spec = GraphSpec(source: "t", nodes: [GraphSpec.Node(opType: "LSTM", name: "n0", inputs: ["x"], outputs: ["y"], attributes: [:])],
                             constants: [:], input: "x", outputs: ["y"])
        XCTAssertThrowsError(try GraphExecutor(spec)) { error in
            XCTAssertEqual(error as? VisionModelError, .unsupportedOperator(op: "LSTM", node: "n0", detail: "not in this executor's operator set"))
        }
    }
}
