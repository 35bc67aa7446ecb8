import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels

/// Reading the captioner fixtures written by fixtures/gen/captioners.py.
enum CaptionerFixture {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func dir(_ name: String) -> URL { root.appendingPathComponent("fixtures/captioners/\(name)") }

    static func expected(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: dir(name).appendingPathComponent("expected.json"))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CaptionerError.invalidInput("\(name)/expected.json is not an object")
        }
        return json
    }

    static func tensor(_ any: Any?) throws -> Tensor {
        guard let dict = any as? [String: Any], let shape = dict["shape"] as? [Int], let data = dict["data"] as? [Double] else {
            throw CaptionerError.invalidInput("fixture tensor malformed")
        }
        return Tensor(data.map { Float($0) }, shape: shape)
    }

    /// Largest difference, relative for reference values beyond 1 in magnitude.
    static func maxError(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        let x = a.scalars, y = b.scalars
        var worst: Float = 0
        for i in 0..<x.count { worst = max(worst, abs(x[i] - y[i]) / max(1, abs(y[i]))) }
        return worst
    }

    /// Every tensor of a checkpoint in memory, so a test can remove or reshape one.
    static func tensors(_ url: URL) throws -> [String: Tensor] {
        let source = try Checkpoint.open(url)
        var out: [String: Tensor] = [:]
        for name in source.tensorNames { out[name] = try source.loadTensor(name) }
        return out
    }

    /// The generation settings the fixture used (transformers' defaults: length penalty 1, early_stopping False).
    static func generation(beams: Int, eos: Int, maxNew: Int) -> GenerationConfig {
        GenerationConfig(maxNewTokens: maxNew, stopTokens: [eos], numBeams: beams, lengthPenalty: 1, earlyStopping: .heuristic)
    }
}

/// ClipCap parity (MLP and transformer mappers; .pt and safetensors) with the reference modules of
/// fixtures/gen/captioners.py on top of transformers' GPT-2.
final class ClipCapTests: XCTestCase {
    let device = Device(threads: 2)

    func check(_ name: String, file: String) throws {
        let e = try CaptionerFixture.expected(name)
        let model = try ClipCap(checkpoint: CaptionerFixture.dir(name).appendingPathComponent(file), gptHeads: 4, device: device)
        XCTAssertEqual(model.prefixLength, e["prefix_length"] as? Int)
        let clip = try CaptionerFixture.tensor(e["clip_embedding"])
        let prefix = try model.prefix(clipEmbedding: clip, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(prefix, try CaptionerFixture.tensor(e["prefix_embeds"])), 1e-4, "\(name) \(file) prefix")
        let (hidden, _) = try model.prefixHiddenStates(clipEmbedding: clip, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(hidden, try CaptionerFixture.tensor(e["last_hidden_state"])), 1e-4, "\(name) \(file) hidden")
        let logits = try model.gpt.logits(hidden, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(logits, try CaptionerFixture.tensor(e["logits"])), 1e-4, "\(name) \(file) logits")
        let eos = try XCTUnwrap(e["eos_token_id"] as? Int)
        let maxNew = try XCTUnwrap(e["max_new_tokens"] as? Int)
        for (key, beams) in [("greedy", 1), ("beam3", 3)] {
            let ids = try model.generate(clipEmbedding: clip, config: CaptionerFixture.generation(beams: beams, eos: eos, maxNew: maxNew), device: device)
            XCTAssertEqual(ids, e[key] as? [[Int]], "\(name) \(file) \(key)")
        }
    }

    func testMLPMapperFromTorchSaveMatchesReference() throws { try check("clipcap-mlp", file: "model.pt") }
    func testMLPMapperFromSafetensorsMatchesReference() throws { try check("clipcap-mlp", file: "model.safetensors") }
    func testTransformerMapperFromTorchSaveMatchesReference() throws { try check("clipcap-transformer", file: "model.pt") }
    func testTransformerMapperFromSafetensorsMatchesReference() throws { try check("clipcap-transformer", file: "model.safetensors") }

    /// fixtures/gen/clipcap_official.py: the official module tree (ClipCaptionModel with its MLP or
    /// TransformerMapper, transformers' GPT2LMHeadModel), its `forward(tokens, prefix)` (prefix embeddings
    /// before the caption's token embeddings) and predict.py's `generate2` greedy loop. The .pt has no config and
    /// GPT-2 has width / 64 = 2 heads: the model is loaded without `gptHeads`, so the head count is inferred.
    func checkOfficial(_ name: String) throws {
        let e = try CaptionerFixture.expected(name)
        let model = try ClipCap(checkpoint: CaptionerFixture.dir(name).appendingPathComponent("model.pt"), device: device)
        XCTAssertEqual(model.gpt.config.nHead, e["gpt_heads"] as? Int, "\(name): inferred GPT-2 heads")
        XCTAssertEqual(model.gpt.config.nHead, 2)
        XCTAssertEqual(model.prefixLength, e["prefix_length"] as? Int)
        let clip = try CaptionerFixture.tensor(e["clip_embedding"])
        let tokens = try XCTUnwrap(e["caption_tokens"] as? [[Int]])
        // forward(tokens, prefix): the prefix goes first, the caption's tokens follow it.
        var cache = model.gpt.makeCache()
        let prefixHidden = try model.gpt.hiddenStates(embeddings: model.prefix(clipEmbedding: clip, device: device), cache: &cache, device: device)
        let captionHidden = try model.gpt.hiddenStates(ids: tokens, cache: &cache, device: device)
        let logits = try model.gpt.logits(device.concat([prefixHidden, captionHidden], dim: 1), device: device)
        let reference = try CaptionerFixture.tensor(e["logits"])
        XCTAssertEqual(logits.shape, [2, model.prefixLength + tokens[0].count, model.gpt.config.vocabSize])
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(logits, reference), 1e-4, "\(name) logits")
        // generate2: greedy, stop token included, at most entry_length tokens.
        let stop = try XCTUnwrap(e["stop_token"] as? Int)
        let entryLength = try XCTUnwrap(e["entry_length"] as? Int)
        let greedy = try XCTUnwrap(e["greedy"] as? [[Int]])
        for row in 0..<2 {
            let one = try clip.narrowed(dim: 0, start: row, length: 1).contiguous()
            let ids = try model.generate(clipEmbedding: one, config: CaptionerFixture.generation(beams: 1, eos: stop, maxNew: entryLength), device: device)
            XCTAssertEqual(ids, [greedy[row]], "\(name) greedy row \(row)")
        }
        // The inferred head count matters: the same file read as 4 heads computes other logits.
        let wrong = try ClipCap(checkpoint: CaptionerFixture.dir(name).appendingPathComponent("model.pt"), gptHeads: 4, device: device)
        var c4 = wrong.gpt.makeCache()
        let h4 = try wrong.gpt.hiddenStates(embeddings: wrong.prefix(clipEmbedding: clip, device: device), cache: &c4, device: device)
        let l4 = try wrong.gpt.logits(h4, device: device)
        let l2 = try logits.narrowed(dim: 1, start: 0, length: model.prefixLength).contiguous()
        XCTAssertGreaterThan(CaptionerFixture.maxError(l4, l2), 1e-3, "\(name): 4 heads should not match the 2-head reference")
    }

    func testOfficialMLPClipCaptionModelWithInferredHeads() throws { try checkOfficial("clipcap-official-mlp") }
    func testOfficialTransformerMapperClipCaptionModelWithInferredHeads() throws { try checkOfficial("clipcap-official-transformer") }

    func testShapesAreReadOffTheCheckpoint() throws {
        let mlp = try ClipCap(checkpoint: CaptionerFixture.dir("clipcap-mlp").appendingPathComponent("model.pt"), gptHeads: 4, device: device)
        XCTAssertEqual(mlp.prefixLength, 10)
        XCTAssertEqual(mlp.clipDim, 16)
        XCTAssertFalse(mlp.isTransformerMapper)
        XCTAssertEqual(mlp.gpt.config.nLayer, 2)
        XCTAssertEqual(mlp.gpt.config.vocabSize, 96)
        let tr = try ClipCap(checkpoint: CaptionerFixture.dir("clipcap-transformer").appendingPathComponent("model.pt"), gptHeads: 4, device: device)
        XCTAssertEqual(tr.prefixLength, 40)
        XCTAssertTrue(tr.isTransformerMapper)
    }

    func testMissingOrMisshapenTensorIsNamed() throws {
        let url = CaptionerFixture.dir("clipcap-transformer").appendingPathComponent("model.safetensors")
        let all = try CaptionerFixture.tensors(url)
        for name in ["clip_project.transformer.layers.1.attn.to_keys_values.weight", "gpt.transformer.h.1.mlp.c_proj.bias",
                     "clip_project.prefix_const"] {
            var t = all
            t[name] = nil
            XCTAssertThrowsError(try ClipCap(weights: Weights(InMemoryTensors(t)), gptHeads: 4, device: device)) { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
        var t = all
        t["clip_project.transformer.layers.0.attn.to_queries.weight"] = Tensor(zeros: [32, 31])
        XCTAssertThrowsError(try ClipCap(weights: Weights(InMemoryTensors(t)), gptHeads: 4, device: device)) { error in
            XCTAssertEqual(error as? WeightError, .shapeMismatch(name: "clip_project.transformer.layers.0.attn.to_queries.weight",
                                                                 expected: [32, 32], actual: [32, 31], source: "in-memory tensors"))
        }
        var m = try CaptionerFixture.tensors(CaptionerFixture.dir("clipcap-mlp").appendingPathComponent("model.pt"))
        m["clip_project.model.2.bias"] = nil
        XCTAssertThrowsError(try ClipCap(weights: Weights(InMemoryTensors(m)), gptHeads: 4, device: device)) { error in
            XCTAssertEqual(error as? WeightError, .missing(name: "clip_project.model.2.bias", source: "in-memory tensors"))
        }
    }

    func testBadEmbeddingIsRejected() throws {
        let model = try ClipCap(checkpoint: CaptionerFixture.dir("clipcap-mlp").appendingPathComponent("model.safetensors"), gptHeads: 4, device: device)
        XCTAssertThrowsError(try model.prefix(clipEmbedding: Tensor(zeros: [1, 15]), device: device))
        XCTAssertThrowsError(try ClipCap(weights: Weights(InMemoryTensors([:])), device: device))
        // GPT-2 present, no mapper at all: the error names both mapper layouts.
        let gptOnly = try CaptionerFixture.tensors(CaptionerFixture.dir("clipcap-mlp").appendingPathComponent("model.safetensors"))
            .filter { !$0.key.hasPrefix("clip_project.") }
        XCTAssertThrowsError(try ClipCap(weights: Weights(InMemoryTensors(gptOnly)), gptHeads: 4, device: device)) { error in
            XCTAssertTrue("\(error)".contains("clip_project.model.0.weight") && "\(error)".contains("clip_project.linear.weight"), "\(error)")
        }
    }
}
