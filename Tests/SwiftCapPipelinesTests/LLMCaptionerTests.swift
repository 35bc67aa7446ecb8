import Foundation
import XCTest
import SwiftCapTestSupport
@testable import SwiftCapPipelines
import SwiftCapTensor
import SwiftCapModels

final class LLMCaptionerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testCleanKeepsOneSentence() {
        XCTAssertEqual(LLMCaptioner.clean("A dog catches a frisbee. It is sunny.\nMore"), "A dog catches a frisbee.")
        XCTAssertEqual(LLMCaptioner.clean("\n  Caption: \"a cat on a couch\"  "), "A cat on a couch.")
        XCTAssertEqual(LLMCaptioner.clean("1. Two zebras in a field!"), "Two zebras in a field.")
        XCTAssertEqual(LLMCaptioner.clean("A man riding a wave,"), "A man riding a wave.")
        XCTAssertEqual(LLMCaptioner.clean(" \n\n "), "")
        XCTAssertEqual(LLMCaptioner.clean("..."), "")
    }

    func testPromptListsConceptsAndCaptions() {
        var config = LLMCaptioner.Config()
        config.examples = 2
        let p = LLMCaptioner.prompt(concepts: ["dog", "frisbee"], retrieved: ["A dog jumps", "A dog runs", "A cat"], config: config)
        XCTAssertEqual(p, """
            Objects seen: dog, frisbee.
            Similar photos were described as:
            1. A dog jumps
            2. A dog runs
            Write one short caption for this photo.
            """)
        XCTAssertEqual(LLMCaptioner.prompt(concepts: [], retrieved: [], config: config), "Write one short caption for this photo.")
    }

    /// End to end on the real SmolLM2 GGUF with a six-caption datastore (skipped without the asset).
    func testSmolLM2CaptionsFromEvidence() throws {
        let url = AssetPaths.fromEnvironment(repositoryRoot: LLMCaptionerTests.root).asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("\(url.path) is absent (scripts/fetch-assets.sh fetches it)")
        }
        let corpus = CaptionCorpus(captions: [
            CorpusCaption(imageID: 1, text: "A dog catching a frisbee in a park."),
            CorpusCaption(imageID: 1, text: "A dog jumps to catch a frisbee"),
            CorpusCaption(imageID: 2, text: "Two zebras standing in a field"),
            CorpusCaption(imageID: 3, text: "A pizza on a plate on a table"),
        ])
        let storeURL = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-llm-\(UUID().uuidString).scds")
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: storeURL)
        defer { try? FileManager.default.removeItem(at: storeURL) }
        var retrieval = RetrievalCaptioner(datastore: try Datastore(contentsOf: storeURL))
        retrieval.config.poolMinimum = 1
        let captioner = LLMCaptioner(chat: try LlamaChat(url: url), retrieval: retrieval)
        let r = try captioner.caption(evidence: [ConceptEvidence(name: "dog", score: 0.9, area: 0.2),
                                                 ConceptEvidence(name: "frisbee", score: 0.8, area: 0.05)],
                                      device: Device(threads: 2))
        print("prompt:\n\(r.prompt)\nreply: \(r.raw)\ncaption: \(r.caption)")
        XCTAssertTrue(r.prompt.contains("Objects seen: dog, frisbee."), r.prompt)
        XCTAssertTrue(r.prompt.contains("frisbee"), r.prompt)
        XCTAssertTrue(r.raw.hasPrefix("A"), r.raw)
        XCTAssertTrue(r.caption.hasSuffix("."), r.caption)
        XCTAssertEqual(r.caption.filter { $0 == "." }.count, 1, r.caption)
        XCTAssertTrue(r.caption.lowercased().contains("dog"), r.caption)
    }
}
