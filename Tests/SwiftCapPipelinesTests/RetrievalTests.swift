import XCTest
@testable import SwiftCapPipelines

final class ConceptVocabularyTests: XCTestCase {
    let vocab = ConceptVocabulary.standard

    func names(_ caption: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for m in vocab.mentions(in: ConceptVocabulary.tokenize(caption)) { out[vocab.concepts[m.concept].name] = m.countBin }
        return out
    }

    func testDetectorClassesComeFirstInDetectorOrder() {
        XCTAssertEqual(vocab.concepts.count(where: \.isDetectorClass), 80)
        XCTAssertEqual(vocab.concepts[0].name, "person")
        XCTAssertEqual(vocab.concepts[79].name, "toothbrush")
        XCTAssertEqual(vocab.concepts[60].name, "dining table")
    }

    func testMentionsWithCountsSynonymsAndPhrases() {
        XCTAssertEqual(names("Two dogs playing with a Frisbee on the grass."), ["dog": 2, "frisbee": 1, "field": 1])
        XCTAssertEqual(names("A group of people standing around a table"), ["person": 3, "dining table": 1])
        XCTAssertEqual(names("A man eating a hot dog"), ["person": 1, "hot dog": 1])
        XCTAssertEqual(names("three zebras grazing"), ["zebra": 3])
        XCTAssertEqual(names("a kitchen with a stove and a fridge"), ["kitchen": 1, "oven": 1, "refrigerator": 1])
        XCTAssertEqual(names(""), [:])
    }

    func testPluralRules() {
        XCTAssertEqual(ConceptVocabulary.pluralize("person"), "people")
        XCTAssertEqual(ConceptVocabulary.pluralize("bus"), "buses")
        XCTAssertEqual(ConceptVocabulary.pluralize("teddy bear"), "teddy bears")
        XCTAssertEqual(ConceptVocabulary.pluralize("pony"), "ponies")
        XCTAssertEqual(ConceptVocabulary.pluralize("knife"), "knives")
    }
}

final class DatastoreTests: XCTestCase {
    let corpus = CaptionCorpus(captions: [
        CorpusCaption(imageID: 1, text: "A dog catching a frisbee in a park."),
        CorpusCaption(imageID: 1, text: "A dog jumps to catch a frisbee"),
        CorpusCaption(imageID: 2, text: "Two zebras standing in a field"),
        CorpusCaption(imageID: 3, text: "A pizza on a plate on a table"),
        CorpusCaption(imageID: 4, text: "A cat sleeping on a couch"),
        CorpusCaption(imageID: 5, text: "A sunset with no objects at all"),
    ])

    func makeStore() throws -> (Datastore, URL) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-test-\(UUID().uuidString).scds")
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: url)
        return (try Datastore(contentsOf: url), url)
    }

    func testRoundTripAndSearch() throws {
        let (store, url) = try makeStore()
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(store.captionCount, 6)
        XCTAssertEqual(store.caption(2), "Two zebras standing in a field")
        XCTAssertEqual(store.imageID(3), 3)
        let hits = store.search(Datastore.Query(["dog": (1, 1), "frisbee": (0.8, 1)]), minimum: 2, maximum: 10)
        XCTAssertEqual(Set(hits.prefix(2).map(\.caption)), [0, 1])
        XCTAssertGreaterThan(hits[0].score, 0.9)
        let zebra = store.search(Datastore.Query(["zebra": (1, 2)]), minimum: 1, maximum: 1)
        XCTAssertEqual(zebra.map(\.caption), [2])
        // The idf of a rarer feature is higher.
        XCTAssertGreaterThan(try XCTUnwrap(store.idf(ofFeature: "zebra")), try XCTUnwrap(store.idf(ofFeature: "dog")) - 1e-6)
    }

    func testRetrievalCaptionerPicksConsensus() throws {
        let (store, url) = try makeStore()
        defer { try? FileManager.default.removeItem(at: url) }
        let captioner = RetrievalCaptioner(datastore: store)
        let r = captioner.caption(evidence: [ConceptEvidence(name: "cat", score: 0.9, area: 0.4)])
        XCTAssertEqual(r.caption, "A cat sleeping on a couch")
        XCTAssertEqual(r.query.keys.sorted(), ["cat"])
    }

    func testMalformedFilesGiveTypedErrors() throws {
        let (_, url) = try makeStore()
        defer { try? FileManager.default.removeItem(at: url) }
        let good = try Data(contentsOf: url)
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-bad-\(UUID().uuidString).scds")
        defer { try? FileManager.default.removeItem(at: bad) }
        for cut in [0, 7, 20, 100, good.count / 2, good.count - 1] {
            try good.prefix(cut).write(to: bad)
            XCTAssertThrowsError(try Datastore(contentsOf: bad), "truncated at \(cut)") { error in
                XCTAssertTrue("\(error)".contains(bad.path), "\(error)")
            }
        }
        // Seeded, so a failure reproduces; SWIFTCAP_FUZZ_COUNT raises the count for a long run.
        var rng = TestRNG(seed: 12345)
        let count = Int(ProcessInfo.processInfo.environment["SWIFTCAP_FUZZ_COUNT"] ?? "") ?? 300
        for _ in 0..<count {
            var d = good
            for _ in 0..<3 { d[Int.random(in: 0..<d.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            try d.write(to: bad)
            // Either loads (and then answers queries without crashing) or throws.
            if let s = try? Datastore(contentsOf: bad) {
                _ = s.search(Datastore.Query(["dog": (1, 1)]))
                for i in 0..<s.captionCount { _ = s.caption(i) }
            }
        }
        XCTAssertThrowsError(try Datastore(contentsOf: URL(fileURLWithPath: "/nonexistent/x.scds")))
    }

    func testImageRetrievalRanksImagesByConceptProfile() throws {
        let (store, url) = try makeStore()
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(store.imageCount, 5)
        // Image 1's two captions both mention dog and frisbee: both come back, best first, same score.
        let hits = store.searchImages(Datastore.Query(["dog": (1, 1), "frisbee": (1, 1)]), images: 1)
        XCTAssertEqual(hits.map(\.caption), [0, 1])
        XCTAssertEqual(hits[0].score, hits[1].score)
        XCTAssertEqual(hits[0].score, 1, accuracy: 1e-5)  // the profile equals the query direction
        // A query for two images' concepts returns both images' captions, the better match first.
        let two = store.searchImages(Datastore.Query(["cat": (1, 1), "couch": (0.2, 1)]), images: 2)
        XCTAssertEqual(two.first?.caption, 4)
        XCTAssertTrue(store.searchImages(Datastore.Query(), images: 3).isEmpty)
        // Through the captioner.
        var config = RetrievalCaptioner.Config()
        config.poolImages = 2
        let r = RetrievalCaptioner(datastore: store, config: config).caption(evidence: [ConceptEvidence(name: "zebra", score: 0.9, area: 0.3)])
        XCTAssertEqual(r.caption, "Two zebras standing in a field")
    }

    func testEmptyQuerySamplesTheWholeStoreAndWeakEvidenceIsUsedWhenNothingElse() throws {
        let (store, url) = try makeStore()
        defer { try? FileManager.default.removeItem(at: url) }
        // Unknown concept only: an even sample over all captions, not the first few.
        let hits = store.search(Datastore.Query(["unicorn": (1, 1)]), minimum: 2, maximum: 3)
        XCTAssertEqual(hits.map(\.caption), [0, 2, 4])
        XCTAssertEqual(store.search(Datastore.Query(), minimum: 1, maximum: 100).count, 6)
        // A 0.35 cat is below the 0.5 threshold but is all there is: it is used.
        let captioner = RetrievalCaptioner(datastore: store)
        XCTAssertEqual(captioner.query(for: [ConceptEvidence(name: "cat", score: 0.35, area: 0.3)]).concepts.keys.sorted(), ["cat"])
        // With a confident dog, the weak cat is still dropped.
        let both = captioner.query(for: [ConceptEvidence(name: "cat", score: 0.35, area: 0.3), ConceptEvidence(name: "dog", score: 0.9, area: 0.3)])
        XCTAssertEqual(both.concepts.keys.sorted(), ["dog"])
    }

    func testDistinctDropsRepeatedSentences() {
        let pool = ["A bear in the grass", "a bear in the grass.", "A brown bear", "A bear in the grass", "A cub"]
        XCTAssertEqual(RetrievalCaptioner.distinct(pool, 3), ["A bear in the grass", "A brown bear", "A cub"])
        XCTAssertEqual(RetrievalCaptioner.distinct(pool, 1), ["A bear in the grass"])
        XCTAssertEqual(RetrievalCaptioner.distinct([], 3), [])
    }

    func testConfigDecodesAnySubsetOfFields() throws {
        let c = try JSONDecoder().decode(RetrievalCaptioner.Config.self, from: Data(#"{"poolImages": 7, "consensus": "centroid"}"#.utf8))
        XCTAssertEqual(c.poolImages, 7)
        XCTAssertEqual(c.consensus, .centroid)
        XCTAssertEqual(c.minScore, RetrievalCaptioner.Config().minScore)
        XCTAssertThrowsError(try JSONDecoder().decode(RetrievalCaptioner.Config.self, from: Data(#"{"consensus": "mean"}"#.utf8)))
    }

    func testEmptyCorpusIsAnError() {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-empty.scds")
        XCTAssertThrowsError(try Datastore.build(corpus: CaptionCorpus(captions: []), vocabulary: .standard, to: url))
    }
}

final class ConsensusTests: XCTestCase {
    func testPicksTheCaptionMostLikeTheOthers() {
        let pool = ["a man riding a wave on a surfboard",
                    "a surfer riding a wave on a surfboard",
                    "a man on a surfboard riding a big wave",
                    "the cat sat quietly by the window"]
        let s = ConsensusReranker().scores(pool)
        XCTAssertEqual(s.count, 4)
        XCTAssertEqual(s.indices.min(by: { s[$0] < s[$1] }), 3)
        XCTAssertTrue(s[0] > s[3] && s[1] > s[3])
        // Candidates restrict who competes, not who votes.
        let c = ConsensusReranker().scores(pool, candidates: [3, 0])
        XCTAssertEqual(c[0], s[3], accuracy: 1e-12)
        XCTAssertEqual(c[1], s[0], accuracy: 1e-12)
    }

    func testCentroidEqualsPairwiseWithoutRepeatedNgrams() {
        // No candidate repeats an n-gram, so CIDEr-D's clipping never binds and the two methods agree.
        let pool = ["man riding one wave on top of his surfboard", "a surfer rides the big wave",
                    "man on surfboard in the ocean", "two dogs play in the park", "surfer riding a wave",
                    "the cat sat by the window", "someone surfing in the ocean near the beach"]
        let weights = [1.0, 0.5, 2.0, 0.1, 1.5, 0.3, 0.8]
        var centroid = ConsensusReranker()
        centroid.method = .centroid
        let exact = ConsensusReranker().scores(pool, weights: weights, candidates: [4, 0, 3])
        let fast = centroid.scores(pool, weights: weights, candidates: [4, 0, 3])
        XCTAssertEqual(exact.count, 3)
        for (a, b) in zip(exact, fast) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertGreaterThan(fast[0], fast[2])
    }

    func testNonASCIICaptionsShareWordIDsWithASCIIOnes() {
        // The em dash sends the second caption through the general tokenizer; its words must still match
        // the first caption's (byte-hashed) words, exactly as with a plain hyphen.
        let a = ConsensusReranker().scores(["a dog runs fast", "A DOG runs — fast", "a cat sleeps"])
        let b = ConsensusReranker().scores(["a dog runs fast", "A DOG runs - fast", "a cat sleeps"])
        XCTAssertEqual(a.count, 3)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        let c = ConsensusReranker().scores(["un café noir", "un cafe noir", "un café noir"])
        XCTAssertGreaterThan(c[0], c[1])  // "café" and "cafe" are different words
    }

    func testTokenizerFastPathMatchesUnicodePath() {
        // The ASCII fast path must split and lower-case exactly like the general path.
        for text in ["A Man's DOG, on 2 skis!", "  leading and trailing  ", "", "x", "a-b_c.d/e",
                     "Crème brûlée on a TABLE", "ÉCOLE and CAFÉ", "tabs\tand\nnewlines", "100% of 3 cats"] {
            let general = text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
            XCTAssertEqual(ConceptVocabulary.tokenize(text).map(String.init), general, text)
        }
    }

    func testIdenticalCaptionsAgreeFully() {
        let s = ConsensusReranker().scores(["a b c d e", "a b c d e", "x y z"])
        XCTAssertGreaterThan(s[0], s[2])
    }
}

/// Small deterministic generator for the fuzz loop.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state ^ (state >> 29)
    }
}
