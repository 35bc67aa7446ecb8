import XCTest
import SwiftCapTestSupport
import Foundation
import SwiftCapTensor
import SwiftCapFormats
@testable import SwiftCapModels

final class LlamaTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let device = Device(threads: 2)

    struct Reference: Decodable {
        var prompt: [Int]
        var logits: [[Float]]
        var hidden: [[Float]]
        var greedy: [Int]
    }

    func load(_ name: String) throws -> (Llama, Reference) {
        let dir = LlamaTests.root.appendingPathComponent("fixtures/llama")
        let model = try Llama(gguf: GGUFFile(url: dir.appendingPathComponent("\(name).gguf")))
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("\(name).json")))
        return (model, ref)
    }

    func maxDiff(_ t: Tensor, _ rows: [[Float]]) -> Float {
        zip(t.scalars, rows.flatMap { $0 }).map { abs($0 - $1) }.max() ?? .infinity
    }

    /// Config from GGUF metadata, full-prompt logits and hidden states vs transformers, greedy ids exact.
    func checkParity(_ name: String, tied: Bool) throws {
        let (model, ref) = try load(name)
        XCTAssertEqual(model.config, LlamaConfig(vocabSize: 256, dim: 64, layers: 2, heads: 4, kvHeads: 2, ffnDim: 128,
                                                 contextLength: 128, ropeFreqBase: 100_000, rmsEps: 1e-5))
        var cache = model.makeCache()
        let hidden = try model.hiddenStates(ids: [ref.prompt], cache: &cache, device: device)
        XCTAssertEqual(hidden.shape, [1, ref.prompt.count, 64])
        XCTAssertLessThan(maxDiff(hidden, ref.hidden), 1e-4, "\(name) hidden")
        let logits = try model.logits(hidden, device: device)
        print("\(name): max |Δ| hidden \(maxDiff(hidden, ref.hidden)), logits \(maxDiff(logits, ref.logits))")
        XCTAssertLessThan(maxDiff(logits, ref.logits), 1e-4, "\(name) logits")
        XCTAssertEqual(cache.length, ref.prompt.count)
        // Token-by-token decoding through the KV cache gives the same logits as the full prompt.
        var stepCache = model.makeCache()
        var stepLogits: [Float] = []
        for t in ref.prompt { stepLogits += try model.nextLogits(tokens: [t], state: &stepCache, device: device).scalars }
        XCTAssertLessThan(zip(stepLogits, ref.logits.flatMap { $0 }).map { abs($0 - $1) }.max() ?? 1, 1e-4, "\(name) cached steps")
        let ids = try model.generate(ids: [ref.prompt], config: GenerationConfig(maxNewTokens: ref.greedy.count), device: device)
        XCTAssertEqual(ids, [ref.greedy])
        XCTAssertEqual(model.output.scalars == model.tokenEmbedding.scalars, tied)
    }

    func testTinyLlamaMatchesTransformers() throws { try checkParity("tiny", tied: false) }
    func testTinyTiedLlamaMatchesTransformers() throws { try checkParity("tiny-tied", tied: true) }

    func testRejectsBadInput() throws {
        let (model, _) = try load("tiny")
        var cache = model.makeCache()
        XCTAssertThrowsError(try model.hiddenStates(ids: [[300]], cache: &cache, device: device)) { e in
            XCTAssertTrue("\(e)".contains("outside vocabulary"), "\(e)")
        }
        XCTAssertThrowsError(try model.hiddenStates(ids: [[]], cache: &cache, device: device))
        XCTAssertThrowsError(try model.hiddenStates(ids: [Array(repeating: 1, count: 129)], cache: &cache, device: device)) { e in
            XCTAssertTrue("\(e)".contains("context length"), "\(e)")
        }
        // The shared `generate` passes left padding through; Llama refuses it rather than ignoring it.
        XCTAssertThrowsError(try model.generate(ids: [[1, 2], [0, 3]], leftPadding: [0, 1], config: GenerationConfig(), device: device)) { e in
            XCTAssertTrue("\(e)".contains("left-padded"), "\(e)")
        }
    }

    func testRejectsNonLlamaGGUF() throws {
        // A GGUF without llama.* metadata: a clear config error, not a crash.
        var bytes = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        u32(3); u64(0); u64(1)
        let key = "general.architecture", value = "gpt2"
        u64(UInt64(key.utf8.count)); bytes.append(contentsOf: key.utf8); u32(8)
        u64(UInt64(value.utf8.count)); bytes.append(contentsOf: value.utf8)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("llama-bad-\(UUID().uuidString).gguf")
        try bytes.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try Llama(gguf: GGUFFile(url: url))) { e in
            XCTAssertTrue("\(e)".contains("architecture"), "\(e)")
        }
    }

    /// Read-only smoke test on the real SmolLM2-135M-Instruct Q4_1 GGUF.
    func testSmolLM2KnowsParis() throws {
        let url = AssetPaths.fromEnvironment(repositoryRoot: LlamaTests.root).asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("\(url.path) is absent (scripts/fetch-assets.sh fetches it)")
        }
        let chat = try LlamaChat(url: url)
        XCTAssertEqual(chat.model.config.layers, 30)
        XCTAssertEqual(chat.model.config.kvHeads, 3)
        let text = try chat.complete(ids: chat.tokenizer.encode("The capital of France is"), maxNewTokens: 8, device: device)
        print("SmolLM2 continuation: \(text)")
        XCTAssertTrue(text.contains("Paris"), text)
    }
}
