import XCTest
@testable import SwiftCapTraining
import SwiftCapModels
import SwiftCapPipelines
import SwiftCapTensor

/// The concept head's hand-written backward against torch autograd, AP against scikit-learn, and a tiny
/// end-to-end training run (fixtures/concepts, scripts/make_concept_head_fixture.py).
final class ConceptHeadTrainingTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> URL { root.appendingPathComponent("fixtures/concepts/\(name)") }

    struct Gradients: Decodable {
        var inputs: [Float]; var targets: [Float]; var D: Int; var H: Int; var V: Int; var rows: Int
        var params: [Float]; var loss: Double; var grads: [Float]
    }

    func testBackwardMatchesTorchAutograd() throws {
        let g = try JSONDecoder().decode(Gradients.self, from: Data(contentsOf: Self.fixture("mlp_gradients.json")))
        let mlp = TrainableConceptMLP(inputs: g.D, hidden: g.H, outputs: g.V, outputPrior: [Float](repeating: 0.5, count: g.V), seed: 1)
        XCTAssertEqual(mlp.params.count, g.params.count)
        mlp.params = g.params
        var rng = SplitMix64(seed: 0)
        let device = Device(threads: 1)
        let loss = mlp.forward(g.inputs, targets: g.targets, dropout: 0, rng: &rng, device: device)
        XCTAssertEqual(loss, g.loss, accuracy: 1e-5)
        mlp.backward(targets: g.targets, l2: 0, device: device)
        for (i, (a, b)) in zip(mlp.grads, g.grads).enumerated() { XCTAssertEqual(a, b, accuracy: 1e-5, "gradient \(i)") }
        // The L2 term adds l2 × weight to matrix gradients only.
        mlp.backward(targets: g.targets, l2: 0.5, device: device)
        let fc1Bias = mlp.slots[1]
        XCTAssertEqual(mlp.grads[0], g.grads[0] + 0.5 * g.params[0], accuracy: 1e-5)
        XCTAssertEqual(mlp.grads[fc1Bias.offset], g.grads[fc1Bias.offset], accuracy: 1e-6)
    }

    struct APCase: Decodable { var scores: [Float]; var labels: [Int]; var ap: Double }

    func testAveragePrecisionMatchesScikitLearn() throws {
        let cases = try JSONDecoder().decode([APCase].self, from: Data(contentsOf: Self.fixture("average_precision.json")))
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let ap = try XCTUnwrap(averagePrecision(scores: c.scores, positives: c.labels.map { $0 == 1 }))
            XCTAssertEqual(ap, c.ap, accuracy: 1e-9)
        }
        XCTAssertNil(averagePrecision(scores: [0.1, 0.2], positives: [false, false]))
    }

    func testVocabularyAndTargetsFromCaptions() {
        let captions = [["A dog runs on the grass.", "Dog with a frisbee"], ["A cat on a sofa", "Two cats sleeping"], ["A dog and a cat"]]
        let v = ConceptLabels.vocabulary(captions: captions, minPhotos: 2)
        XCTAssertEqual(v, ["cat", "dog"])  // "a"/"on" are stop words; "two" is used by one photo only
        XCTAssertEqual(ConceptLabels.targets(captions: captions, vocabulary: v), [0, 1, 1, 0, 1, 1])
    }

    /// Training on a separable toy problem learns it: words follow the sign of one input each.
    func testTrainingLearnsASeparableProblem() throws {
        var rng = SplitMix64(seed: 9)
        let n = 256, D = 6, V = 3
        var x = [Float](), y = [Float]()
        for _ in 0..<n {
            let row = (0..<D).map { _ in rng.nextFloat() * 2 - 1 }
            x += row
            y += (0..<V).map { row[$0] > 0 ? 1 : 0 }
        }
        let mlp = TrainableConceptMLP(inputs: D, hidden: 16, outputs: V, outputPrior: [0.5, 0.5, 0.5], seed: 3)
        var opt = AdamW(parameterCount: mlp.params.count)
        opt.weightDecay = 0
        let device = Device(threads: 1)
        var first = 0.0, last = 0.0
        for step in 0..<400 {
            let loss = mlp.forward(x, targets: y, dropout: 0, rng: &rng, device: device)
            if step == 0 { first = loss }
            last = loss
            mlp.backward(targets: y, l2: 0, device: device)
            opt.update(params: &mlp.params, grads: mlp.grads, slots: mlp.slots, lr: 0.01, device: device)
        }
        XCTAssertLessThan(last, first * 0.2, "loss \(first) -> \(last)")
        let head = try ConceptHead(vocabulary: ["a", "b", "c"], mean: [Float](repeating: 0, count: D), std: [Float](repeating: 1, count: D),
                                   heads: [mlp.mlp])
        let p = try head.probabilities(x, device: device)
        for j in 0..<V {
            let ap = try XCTUnwrap(averagePrecision(scores: (0..<n).map { p[$0 * V + j] }, positives: (0..<n).map { y[$0 * V + j] > 0 }))
            XCTAssertGreaterThan(ap, 0.95, "word \(j)")
        }
        // Saved (f16) and reloaded, the head gives the same probabilities to f16 precision.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("head-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try ConceptHeadTrainer.save(head, to: url)
        let back = try ConceptHead(url: url)
        XCTAssertEqual(back.vocabulary, head.vocabulary)
        for (a, b) in zip(try back.probabilities(x, device: device), p) { XCTAssertEqual(a, b, accuracy: 0.02) }
    }

    func testConfigDefaultsAndValidation() throws {
        let c = try JSONDecoder().decode(ConceptHeadConfig.self, from: Data(#"{"task": "concepts", "hidden": 64, "devImages": null}"#.utf8))
        XCTAssertEqual(c.hidden, 64)
        XCTAssertNil(c.devImages)
        XCTAssertEqual(c.epochs, ConceptHeadConfig().epochs)
        var bad = c
        bad.dropout = 1
        XCTAssertThrowsError(try bad.validate())
        let shipped = try JSONDecoder().decode(ConceptHeadConfig.self, from: Data(contentsOf: Self.root.appendingPathComponent("configs/concepts.json")))
        XCTAssertNoThrow(try shipped.validate())
        let paths = AssetPaths(assets: URL(fileURLWithPath: "/a"), shared: URL(fileURLWithPath: "/s"))
        XCTAssertEqual(ConceptHeadConfig.resolve("{shared}/data/x", paths: paths).path, "/s/data/x")
    }
}
