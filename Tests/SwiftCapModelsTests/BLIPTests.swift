import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapText
import SwiftCapModels

/// BLIP captioning parity with transformers' BlipForConditionalGeneration (tiny random checkpoint saved by
/// save_pretrained, tiny WordPiece vocabulary), from fixtures/gen/captioners.py.
final class BLIPTests: XCTestCase {
    let device = Device(threads: 2)
    let dir = CaptionerFixture.dir("blip-tiny")

    func testConfigIsReadWithTransformersDefaults() throws {
        let c = try BLIPConfig.load(from: dir.appendingPathComponent("config.json"))
        XCTAssertEqual(c.text.numAttentionHeads, 2)
        XCTAssertEqual(c.text.vocabSize, 63)
        XCTAssertEqual(c.text.bosTokenId, 61)
        XCTAssertEqual(c.text.sepTokenId, 3)
        XCTAssertEqual(c.text.layerNormEps, 1e-12)
        XCTAssertEqual(c.vision.imageSize, 32)
        XCTAssertEqual(c.vision.patchSize, 8)
        // Keys a config leaves out take transformers' defaults (8 text heads), the published base says 12.
        XCTAssertEqual(BLIPTextConfig().numAttentionHeads, 8)
        XCTAssertEqual(BLIPConfig.publishedBase.text.numAttentionHeads, 12)
        XCTAssertEqual(BLIPConfig.publishedBase.vision.tokens, 577)
    }

    func testVisionDecoderAndGenerationMatchTransformers() throws {
        let e = try CaptionerFixture.expected("blip-tiny")
        let model = try BLIP(directory: dir)
        let tok = try WordPieceTokenizer(vocabTXT: dir.appendingPathComponent("vocab.txt"))
        let tokenized = tok.encode("a picture of")
        XCTAssertEqual(tokenized, e["prompt_tokenized"] as? [Int])
        let prompt = try model.decoderPrompt(tokenized: tokenized)
        XCTAssertEqual([prompt, prompt], e["decoder_input_ids"] as? [[Int]])

        let pixels = try CaptionerFixture.tensor(e["pixels"])
        let image = try model.vision.forward(pixels: pixels, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(image, try CaptionerFixture.tensor(e["vision_hidden_state"])), 1e-4)
        var state = try model.text.makeState(imageEmbeds: image, device: device)
        let hidden = try model.text.hiddenStates(ids: [prompt, prompt], state: &state, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(hidden, try CaptionerFixture.tensor(e["last_hidden_state"])), 1e-4)
        let logits = try model.text.logits(hidden, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(logits, try CaptionerFixture.tensor(e["logits"])), 1e-4)
        let maxNew = try XCTUnwrap(e["max_new_tokens"] as? Int)
        for (key, beams) in [("greedy", 1), ("beam3", 3)] {
            let ids = try model.generate(imageEmbeds: image, prompt: prompt,
                                         config: GenerationConfig(maxNewTokens: maxNew, numBeams: beams), device: device)
            XCTAssertEqual(ids, e[key] as? [[Int]], key)
        }
    }

    /// The cached one-token-at-a-time path gives the same logits as one pass over the whole sequence.
    func testIncrementalDecodingEqualsFullPass() throws {
        let model = try BLIP(directory: dir)
        let image = try model.vision.forward(pixels: Tensor(repeating: 0.3, shape: [1, 3, 32, 32]), device: device)
        let ids = [61, 5, 6, 7, 8, 9]
        var full = try model.text.makeState(imageEmbeds: image, device: device)
        let all = try model.text.logits(model.text.hiddenStates(ids: [ids], state: &full, device: device), device: device)
        var step = try model.text.makeState(imageEmbeds: image, device: device)
        _ = try model.text.hiddenStates(ids: [Array(ids.prefix(3))], state: &step, device: device)
        for t in 3..<ids.count {
            let next = try model.text.nextLogits(tokens: [ids[t]], state: &step, device: device)
            let ref = try all.narrowed(dim: 1, start: t, length: 1).contiguous().reshaped([1, 63])
            XCTAssertLessThanOrEqual(CaptionerFixture.maxError(next, ref), 1e-5)
        }
    }

    func testMissingOrMisshapenTensorIsNamed() throws {
        let config = try BLIPConfig.load(from: dir.appendingPathComponent("config.json"))
        let all = try CaptionerFixture.tensors(dir.appendingPathComponent("model.safetensors"))
        for name in ["text_decoder.bert.encoder.layer.1.crossattention.self.key.weight", "vision_model.encoder.layers.0.self_attn.qkv.bias",
                     "text_decoder.cls.predictions.transform.LayerNorm.weight", "vision_model.embeddings.position_embedding"] {
            var t = all
            t[name] = nil
            XCTAssertThrowsError(try BLIP(config: config, weights: Weights(InMemoryTensors(t)))) { error in
                XCTAssertEqual(error as? WeightError, .missing(name: name, source: "in-memory tensors"))
            }
        }
        var t = all
        t["text_decoder.bert.encoder.layer.0.intermediate.dense.weight"] = Tensor(zeros: [64, 16])
        XCTAssertThrowsError(try BLIP(config: config, weights: Weights(InMemoryTensors(t)))) { error in
            XCTAssertEqual(error as? WeightError, .shapeMismatch(name: "text_decoder.bert.encoder.layer.0.intermediate.dense.weight",
                                                                 expected: [64, 32], actual: [64, 16], source: "in-memory tensors"))
        }
        // A config with the wrong head count for the width is refused before any tensor is read.
        var bad = config
        bad.text.numAttentionHeads = 5
        XCTAssertThrowsError(try BLIP(config: bad, weights: Weights(InMemoryTensors(all))))
    }

    func testBadInputsAreRejected() throws {
        let model = try BLIP(directory: dir)
        XCTAssertThrowsError(try model.vision.forward(pixels: Tensor(zeros: [1, 3, 31, 32]), device: device))
        XCTAssertThrowsError(try model.decoderPrompt(tokenized: [2]))
        var state = try model.text.makeState(imageEmbeds: Tensor(zeros: [1, 17, 32]), device: device)
        XCTAssertThrowsError(try model.text.hiddenStates(ids: [Array(repeating: 5, count: 65)], state: &state, device: device))
        XCTAssertThrowsError(try model.text.hiddenStates(ids: [[5], [6]], state: &state, device: device))
    }
}
