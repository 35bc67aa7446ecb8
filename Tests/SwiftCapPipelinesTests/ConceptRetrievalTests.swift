import XCTest
@testable import SwiftCapPipelines
import SwiftCapModels
import SwiftCapTensor
import SwiftCapImage

final class ConceptRetrievalTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func store(_ texts: [String]) throws -> Datastore {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cr-\(UUID().uuidString).scds")
        defer { try? FileManager.default.removeItem(at: url) }
        try Datastore.build(corpus: CaptionCorpus(captions: texts.enumerated().map { CorpusCaption(imageID: $0.offset / 2 + 1, text: $0.element) }),
                            vocabulary: .standard, to: url)
        return try Datastore(contentsOf: url)
    }

    /// A head whose output probabilities are fixed by its biases (all weights zero).
    func head(_ words: [String: Float]) throws -> ConceptHead {
        let vocab = words.keys.sorted()
        let logits = vocab.map { w -> Float in let p = words[w]!; return log(p / (1 - p)) }
        let mlp = ConceptHead.MLP(fc1Weight: Tensor(zeros: [2, 1]), fc1Bias: Tensor(zeros: [1]),
                                  fc2Weight: Tensor(zeros: [1, vocab.count]), fc2Bias: Tensor(logits, shape: [vocab.count]))
        return try ConceptHead(vocabulary: vocab, mean: [0, 0], std: [1, 1], heads: [mlp])
    }

    func testWordHashAgreesWithTokenize() {
        var rng = SplitMix64(seed: 4)
        let alphabet = Array("aZ9 .,-'Qx\tbB")
        for _ in 0..<300 {
            let s = String((0..<Int(rng.next() % 30)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            XCTAssertEqual(WordHash.asciiWords(s.utf8), ConceptVocabulary.tokenize(s).map { WordHash.hash($0) }, s)
        }
        XCTAssertNil(WordHash.asciiWords("café au lait".utf8))
        XCTAssertEqual(WordHash.hash("Dog"), WordHash.hash("dog"))
    }

    func testTopMatchesAFullSort() {
        var rng = SplitMix64(seed: 5)
        for trial in 0..<50 {
            let n = 1 + Int(rng.next() % 300)
            // Coarse values so ties are common; some -inf (too-short captions) are never chosen.
            let v = (0..<n).map { _ -> Float in rng.next() % 7 == 0 ? -.infinity : Float(rng.next() % 20) }
            let k = Int(rng.next() % UInt64(n + 3))
            let expected = v.indices.filter { v[$0].isFinite }.sorted { v[$0] != v[$1] ? v[$0] > v[$1] : $0 < $1 }.prefix(k)
            XCTAssertEqual(CaptionWordIndex.top(v, k), Array(expected), "trial \(trial)")
        }
    }

    func testCaptionsNamingLikelyWordsWin() throws {
        let ds = try store([
            "A dog catching a frisbee in a grassy park",       // dog, frisbee, park
            "A dog sleeping on a couch in the living room",    // dog, couch
            "A man riding a wave on top of a surfboard",
            "Two dogs play with a frisbee on the green grass",
            "A dog.",                                           // too short to be retrieved
            "A cat sitting on a couch next to a remote",
        ])
        let h = try head(["dog": 0.95, "frisbee": 0.9, "couch": 0.02, "man": 0.05, "surfboard": 0.01, "cat": 0.03, "park": 0.4])
        let index = CaptionWordIndex(datastore: ds, vocabulary: h.vocabulary)
        XCTAssertEqual(index.captionCount, 6)
        XCTAssertEqual(Set(index.vocabularyIDs("The DOG and the dog's frisbee").map { h.vocabulary[$0] }), ["dog", "frisbee"])
        var config = ConceptRetrievalCaptioner.Config()
        config.pool = 2
        config.evidenceWeight = 0
        var captioner = ConceptRetrievalCaptioner(datastore: ds, vocabulary: h.vocabulary, config: config)
        let p = try h.probabilities([0, 0], device: Device(threads: 1))
        let scores = index.scores(captioner.logOdds(p), minWords: config.minWords)
        XCTAssertEqual(scores[4], -.infinity)
        XCTAssertGreaterThan(scores[0], scores[1])
        let r = captioner.caption(probabilities: p)
        XCTAssertTrue(r.caption.lowercased().contains("frisbee"), r.caption)
        XCTAssertEqual(r.words.first?.word, "dog")
        XCTAssertLessThanOrEqual(r.retrieved.count, 2)
        // Three captions: the couch caption joins the vote; by consensus alone it wins ("a dog … in the"),
        // with the photo's evidence weighed in the frisbee caption does.
        captioner.config.pool = 3
        XCTAssertEqual(captioner.caption(probabilities: p).caption, "A dog sleeping on a couch in the living room")
        captioner.config.evidenceWeight = 1
        XCTAssertEqual(captioner.caption(probabilities: p).caption, "A dog catching a frisbee in a grassy park")
        // A training photo's own captions can be left out (cross-validation).
        XCTAssertFalse(captioner.caption(probabilities: p, excluding: [0]).retrieved.contains("A dog catching a frisbee in a grassy park"))
        // Neighbour captions vote and compete too.
        let withVotes = captioner.caption(probabilities: p, neighbourCaptions: ["A dog jumps to catch a frisbee in the park"])
        XCTAssertTrue(withVotes.retrieved.contains("A dog jumps to catch a frisbee in the park"), "\(withVotes.retrieved)")
    }

    func testShortCaptionsOnlyStillGiveACaption() throws {
        let ds = try store(["A dog.", "Two cats.", "A dog running."])
        let h = try head(["dog": 0.9, "cat": 0.1, "running": 0.6])
        let captioner = ConceptRetrievalCaptioner(datastore: ds, vocabulary: h.vocabulary)
        let r = captioner.caption(probabilities: try h.probabilities([0, 0], device: Device(threads: 1)))
        XCTAssertEqual(r.caption, "A dog running")
    }

    func testFeatureCacheRoundTripAndBadFile() throws {
        let cache = PhotoFeatureCache(names: ["a.jpg", "b.png"],
                                      pooled: (0..<(2 * PhotoFeatures.pooledDimension)).map { Float($0 % 13) },
                                      detections: (0..<(2 * PhotoFeatures.detectionDimension)).map { Float($0 % 5) / 4 })
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("feat-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try cache.write(to: url)
        let back = try PhotoFeatureCache(contentsOf: url)
        XCTAssertEqual(back.names, cache.names)
        XCTAssertEqual(back.features(1), cache.features(1))
        let head = Self.root.appendingPathComponent("fixtures/concepts/head.safetensors")
        XCTAssertThrowsError(try PhotoFeatureCache(contentsOf: head)) { XCTAssertTrue("\($0)".contains("head.safetensors"), "\($0)") }
    }

    func testTrainingScaleNeverEnlargesAndKeepsAspect() throws {
        let device = Device(threads: 1)
        let big = try RGBImage(width: 1000, height: 500, pixels: [UInt8](repeating: 90, count: 1000 * 500 * 3))
        let s = try PhotoFeatures.atTrainingScale(big, device: device)
        XCTAssertEqual([s.width, s.height], [352, 176])
        let small = try RGBImage(width: 300, height: 200, pixels: [UInt8](repeating: 90, count: 300 * 200 * 3))
        XCTAssertEqual(try PhotoFeatures.atTrainingScale(small, device: device), small)
    }

    func testDetectionSummary() {
        let d = [Detection(label: "dog", classIndex: 16, score: 0.9, box: Box(x0: 0, y0: 0, x1: 50, y1: 50)),
                 Detection(label: "dog", classIndex: 16, score: 0.35, box: Box(x0: 0, y0: 0, x1: 10, y1: 10)),
                 Detection(label: "dog", classIndex: 16, score: 0.28, box: Box(x0: 0, y0: 0, x1: 10, y1: 10))]
        let s = PhotoFeatures.summarize(d, imageWidth: 100, imageHeight: 100)
        XCTAssertEqual(s[16], 0.9)
        XCTAssertEqual(s[80 + 16], 0.5)        // two detections at ≥ 0.3
        XCTAssertEqual(s[160 + 16], 0.25)      // largest box: a quarter of the photo
        XCTAssertEqual(s.filter { $0 != 0 }.count, 3)
    }
}
