import Foundation
import XCTest
import SwiftCapTestSupport
@testable import SwiftCapModels
import SwiftCapFormats
import SwiftCapTensor
import SwiftCapImage

/// Paths shared by the vision tests.
enum VisionTestPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let assets = AssetPaths.fromEnvironment(repositoryRoot: root)
    static func fixture(_ name: String) -> URL { root.appendingPathComponent("fixtures/vision/\(name)") }

    /// The detector from ../shared; skips (not fails) only when the whole shared folder is absent.
    static func picoDetURL() throws -> URL {
        let url = assets.sharedFile(PicoDet.sharedRelativePath)
        if !FileManager.default.fileExists(atPath: assets.shared.path) {
            throw missingInput("shared folder \(assets.shared.path) is absent")
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
    /// centre convention (centre = (cell index + 0.5) × stride) implies, scaled to the image.
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
        let cx: Float = 7.5 * 16, cy: Float = 5.5 * 16
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

    /// Truncated or garbage model files give a thrown error, never a crash.
    func testTruncatedAndGarbageModelFilesThrow() throws {
        let url = try VisionTestPaths.picoDetURL()
        let data = try Data(contentsOf: url)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-vision-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SystemRandomNumberGenerator()
        let cases: [(String, Data)] = [
            ("empty.onnx", Data()),
            ("half.onnx", data.prefix(data.count / 2)),
            ("head.onnx", data.prefix(1000)),
            ("garbage.onnx", Data((0..<5000).map { _ in UInt8.random(in: 0...255, using: &rng) })),
        ]
        for (name, bytes) in cases {
            let file = dir.appendingPathComponent(name)
            try bytes.write(to: file)
            XCTAssertThrowsError(try PicoDet(contentsOf: file), name)
        }
    }

    /// Tiny and extreme images go through (the recipe resizes everything to 416x416).
    func testTinyImages() throws {
        let det = try model()
        for (w, h) in [(1, 1), (3, 500), (700, 2)] {
            let image = try RGBImage(width: w, height: h, pixels: [UInt8](repeating: 128, count: w * h * 3))
            let dets = try det.detect(image, device: Device(threads: 2))
            for d in dets {
                XCTAssertTrue(d.box.x0 >= 0 && d.box.x1 <= Float(w) && d.box.y0 >= 0 && d.box.y1 <= Float(h), "\(d)")
            }
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

/// The 41 photos of ../shared/eval/coco-dev against onnxruntime (fixtures/vision/picodet_coco_dev.json).
final class PicoDetCocoDevParityTests: XCTestCase {
    struct Fixture: Decodable {
        struct Output: Decodable { let values: [Float]; let sum: Double; let absSum: Double }
        struct Det: Decodable { let label: String; let classIndex: Int; let score: Float; let box: [Float] }
        struct Photo: Decodable {
            let file: String; let width: Int; let height: Int; let inputSum: Double
            let outputs: [Output]; let detections: [Det]
        }
        let scoreThreshold: Float
        let nmsIoU: Float
        let cellOffset: Float
        let photos: [Photo]
    }

    func testAllPhotosMatchOnnxRuntime() throws {
        let url = try VisionTestPaths.picoDetURL()
        let det = try PicoDetTests.shared ?? PicoDet(contentsOf: url)
        var model = det
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: VisionTestPaths.fixture("picodet_coco_dev.json")))
        model.config.scoreThreshold = fixture.scoreThreshold
        model.config.nmsIoU = fixture.nmsIoU
        XCTAssertEqual(model.config.cellOffset, fixture.cellOffset, "default centre convention")
        XCTAssertEqual(fixture.photos.count, 41)
        let device = Device(threads: 2)
        let folder = VisionTestPaths.assets.sharedFile("eval/coco-dev/images")
        var worstRaw: Float = 0, matched = 0, worstScore: Float = 0, worstIoU: Float = 1
        for photo in fixture.photos {
            let image = try ImageDecoder().decode(contentsOf: folder.appendingPathComponent(photo.file))
            XCTAssertEqual([image.width, image.height], [photo.width, photo.height], photo.file)
            let input = try model.preprocess(image, device: device)
            let inputSum = input.scalars.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(inputSum, photo.inputSum, accuracy: 1e-3 * Double(input.count) / 100, "\(photo.file): preprocessed input differs")
            let (scores, boxes) = try model.rawOutputs(input, device: device)
            for (k, t) in (scores + boxes).enumerated() {
                let flat = t.scalars
                let idx = VisionTestPaths.sampleIndices(flat.count, 256, seed: UInt64(1000 + k))
                for (i, ref) in zip(idx, photo.outputs[k].values) { worstRaw = max(worstRaw, abs(flat[i] - ref)) }
                let sum = flat.reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(sum, photo.outputs[k].sum, accuracy: 1e-4 * Double(flat.count), "\(photo.file) output \(k) sum")
            }
            let mine = model.decode(scores: scores, boxes: boxes, imageWidth: image.width, imageHeight: image.height)
            // Every reference detection clearly above the threshold has a twin (same label, IoU >= 0.95,
            // score within 0.01), and vice versa; boxes within 0.01 of the threshold may flip.
            func twins(_ a: [(String, Float, Box)], _ b: [(String, Float, Box)], _ what: String) {
                for d in a where d.1 >= fixture.scoreThreshold + 0.01 {
                    let best = b.filter { $0.0 == d.0 }.max { $0.2.iou(d.2) < $1.2.iou(d.2) }
                    guard let best else { XCTFail("\(photo.file): \(what) \(d.0) \(d.1) has no twin"); continue }
                    let iou = best.2.iou(d.2)
                    worstIoU = min(worstIoU, iou)
                    worstScore = max(worstScore, abs(best.1 - d.1))
                    XCTAssertGreaterThanOrEqual(iou, 0.95, "\(photo.file): \(d.0)")
                    XCTAssertLessThanOrEqual(abs(best.1 - d.1), 0.01, "\(photo.file): \(d.0)")
                    matched += 1
                }
            }
            let ref = photo.detections.map { ($0.label, $0.score, Box(x0: $0.box[0], y0: $0.box[1], x1: $0.box[2], y1: $0.box[3])) }
            let got = mine.map { ($0.label, $0.score, $0.box) }
            twins(ref, got, "reference")
            twins(got, ref, "swift")
        }
        print("PicoDet coco-dev: 41 photos, max abs error on sampled raw outputs \(worstRaw), \(matched) detection pairs, worst IoU \(worstIoU), worst score diff \(worstScore)")
        XCTAssertLessThanOrEqual(worstRaw, 1e-3)
        XCTAssertGreaterThan(matched, 200)
    }
}

final class GraphExecutorTests: XCTestCase {
    func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attrs: [String: GraphSpec.Attribute] = [:]) -> GraphSpec.Node {
        GraphSpec.Node(opType: op, name: outputs.first ?? op, inputs: inputs, outputs: outputs, attributes: attrs)
    }

    /// A conv followed by the exporter's hard-swish pattern is folded and computes x*clip(x+3,0,6)/6.
    func testHardSwishPatternIsFoldedAndCorrect() throws {
        let w = Tensor([1, -2], shape: [2, 1, 1, 1])
        let spec = GraphSpec(source: "t", nodes: [
            node("Conv", ["x", "w"], ["c"]),
            node("Add", ["c", "three"], ["a"]),
            node("Clip", ["a", "zero", "six"], ["k"]),
            node("Mul", ["c", "k"], ["m"]),
            node("Div", ["m", "six"], ["y"]),
        ], constants: ["w": w, "three": Tensor([3]), "zero": Tensor([0]), "six": Tensor([6])], input: "x", outputs: ["y"])
        let ex = try GraphExecutor(spec)
        XCTAssertEqual(ex.stepCount, 1)
        XCTAssertEqual(ex.fusedNodes, 4)
        let x = Tensor([-4, -1, 0.5, 2], shape: [1, 1, 2, 2])
        let y = try ex.run(x, device: Device(threads: 1))[0].scalars
        let hs: (Float) -> Float = { v in v * min(max(v + 3, 0), 6) / 6 }
        let expect = [-4, -1, 0.5, 2].map { hs(Float($0)) } + [-4, -1, 0.5, 2].map { hs(-2 * Float($0)) }
        for (a, b) in zip(y, expect) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testCorruptAttributesAreErrors() {
        let bad = GraphSpec(source: "t", nodes: [node("Reshape", ["x", "s"], ["y"])],
                            constants: ["s": Tensor([Float.nan, 4])], input: "x", outputs: ["y"])
        XCTAssertThrowsError(try GraphExecutor(bad))
        let huge = GraphSpec(source: "t", nodes: [node("Conv", ["x", "w"], ["y"], ["strides": .ints([1 << 40, 1])])],
                             constants: ["w": Tensor(zeros: [1, 1, 1, 1])], input: "x", outputs: ["y"])
        let ex = try? GraphExecutor(huge)
        XCTAssertNotNil(ex)
        XCTAssertThrowsError(try ex?.run(Tensor(zeros: [1, 1, 4, 4]), device: Device(threads: 1)))
        let unproduced = GraphSpec(source: "t", nodes: [node("Relu", ["nope"], ["y"])], constants: [:], input: "x", outputs: ["y"])
        XCTAssertThrowsError(try GraphExecutor(unproduced))
    }
}
