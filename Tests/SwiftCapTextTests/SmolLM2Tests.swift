import Foundation
import SwiftCapFormats
import XCTest
@testable import SwiftCapText

/// SmolLM2's vocabulary read from its GGUF (SwiftCapFormats' reader) against a `tokenizers` BPE
/// built from the same GGUF fields with SmolLM2's pre-tokenizer (fixtures/gen/text.py).
final class SmolLM2VocabularyTests: XCTestCase {
    static func vocabulary() throws -> GGUFVocabulary {
        let url = try TextFixtures.asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let g = try GGUFFile(url: url)
        return try GGUFVocabulary(
            source: url.path,
            string: { g.value($0)?.stringValue },
            strings: { key in g.value(key)?.arrayValue.flatMap { a in
                let s = a.compactMap(\.stringValue); return s.count == a.count ? s : nil } },
            ints: { key in g.value(key)?.arrayValue.flatMap { a in
                let s = a.compactMap(\.intValue); return s.count == a.count ? s : nil } })
    }

    func testSmolLM2Parity() throws {
        let v = try Self.vocabulary()
        XCTAssertEqual(v.pre, "smollm")
        XCTAssertEqual(v.tokens.count, 49152)
        let tok = try GPT2Tokenizer(gguf: v, source: "SmolLM2 gguf")
        XCTAssertEqual(tok.preTokenizer, .digitsThenGPT2)
        let obj = try TextFixtures.json("smollm2.json")
        XCTAssertEqual(((obj["special_ids"] as? [Int]) ?? []).count, 17)
        try assertParity("smollm2 captions", texts: TextFixtures.captions.get(),
                         expected: TextFixtures.expected(obj["captions"], name: "smollm2.json"),
                         encode: tok.encode, decode: { try tok.decode($0) })
        try assertParity("smollm2 hard", texts: TextFixtures.hard.get(),
                         expected: TextFixtures.expected(obj["hard"], name: "smollm2.json"),
                         encode: tok.encode, decode: { try tok.decode($0) })
        XCTAssertEqual(tok.encode("<|im_start|>user\nhi<|im_end|>").first, 1)
    }

    func testUnsupportedGGUFVocabularies() throws {
        var v = GGUFVocabulary(model: "llama", pre: "default", tokens: ["a"], merges: [], tokenTypes: [1])
        XCTAssertThrowsError(try GPT2Tokenizer(gguf: v)) { XCTAssertEqual(($0 as? TokenizerError).map { "\($0)" }?.contains("llama"), true) }
        v.model = "gpt2"; v.pre = "qwen2"
        XCTAssertThrowsError(try GPT2Tokenizer(gguf: v)) { XCTAssertEqual(($0 as? TokenizerError).map { "\($0)" }?.contains("qwen2"), true) }
        XCTAssertThrowsError(try GGUFVocabulary(source: "x", string: { _ in "gpt2" }, strings: { _ in ["a", "b"] }, ints: { _ in [1] }))
        XCTAssertThrowsError(try GGUFVocabulary(source: "x", string: { _ in nil }, strings: { _ in ["a"] }, ints: { _ in nil }))
    }
}
