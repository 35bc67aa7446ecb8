import XCTest
import SwiftCapTestSupport
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapText
import SwiftCapModels

/// SmallCap parity with the reference of fixtures/gen/captioners.py (transformers' CLIP vision + GPT-2 with
/// SmallCap's reduced cross-attention), on the tiny VisionEncoderDecoder checkpoint.
final class SmallCapTests: XCTestCase {
    let device = Device(threads: 2)
    let dir = CaptionerFixture.dir("smallcap-tiny")

    func testConfigIsRead() throws {
        let c = try SmallCapConfig.load(from: dir.appendingPathComponent("config.json"))
        XCTAssertEqual(c.crossAttentionReduceFactor, 4)
        XCTAssertEqual(c.crossWidth, 8)
        XCTAssertEqual(c.vision.hiddenSize, 32)
        XCTAssertEqual(c.vision.patchSize, 8)
        XCTAssertEqual(c.decoder.nEmbd, 32)
        XCTAssertEqual(c.decoder.nHead, 4)
        XCTAssertEqual(SmallCapConfig.published(reduceFactor: 16).crossWidth, 48)
    }

    func testEncoderDecoderAndGenerationMatchReference() throws {
        let e = try CaptionerFixture.expected("smallcap-tiny")
        let model = try SmallCap(directory: dir, device: device)
        let pixels = try CaptionerFixture.tensor(e["pixels"])
        let enc = try model.encode(pixels: pixels, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(enc, try CaptionerFixture.tensor(e["encoder_hidden_state"])), 1e-4)
        let prompts = try XCTUnwrap(e["prompt_ids"] as? [[Int]])
        var state = try model.makeState(encoderStates: enc, device: device)
        let hidden = try model.hiddenStates(ids: prompts, state: &state, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(hidden, try CaptionerFixture.tensor(e["last_hidden_state"])), 1e-4)
        let logits = try model.decoder.logits(hidden, device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(logits, try CaptionerFixture.tensor(e["logits"])), 1e-4)
        let eos = try XCTUnwrap(e["eos_token_id"] as? Int)
        let maxNew = try XCTUnwrap(e["max_new_tokens"] as? Int)
        for (key, beams) in [("greedy", 1), ("beam3", 3)] {
            let ids = try model.generate(encoderStates: enc, prompts: prompts,
                                         config: CaptionerFixture.generation(beams: beams, eos: eos, maxNew: maxNew), device: device)
            XCTAssertEqual(ids, e[key] as? [[Int]], key)
        }
    }

    /// The same checkpoint as a torch.save state_dict (pytorch_model.bin, as SmallCap is published) computes the same.
    func testPyTorchBinLoadsTheSame() throws {
        let e = try CaptionerFixture.expected("smallcap-tiny")
        let config = try SmallCapConfig.load(from: dir.appendingPathComponent("config.json"))
        let model = try SmallCap(config: config, weights: Weights(Checkpoint.open(dir.appendingPathComponent("pytorch_model.bin"))), device: device)
        let enc = try model.encode(pixels: CaptionerFixture.tensor(e["pixels"]), device: device)
        var state = try model.makeState(encoderStates: enc, device: device)
        let prompts = try XCTUnwrap(e["prompt_ids"] as? [[Int]])
        let logits = try model.decoder.logits(model.hiddenStates(ids: prompts, state: &state, device: device), device: device)
        XCTAssertLessThanOrEqual(CaptionerFixture.maxError(logits, try CaptionerFixture.tensor(e["logits"])), 1e-4)
    }

    /// The prompt text and its GPT-2 ids (real GPT-2 vocabulary from the public assets) as SmallCap builds them.
    func testRetrievalPromptMatchesPublishedTemplate() throws {
        let e = try CaptionerFixture.expected("smallcap-tiny")
        let caps = try XCTUnwrap(e["retrieved_captions"] as? [String])
        let text = SmallCap.prompt(retrievedCaptions: caps, k: 4)
        XCTAssertEqual(text, e["prompt_text"] as? String)
        XCTAssertTrue(text.hasPrefix("Similar images show\n\n") && text.hasSuffix(".\n\nThis image shows "))
        XCTAssertFalse(text.contains(caps[4]))
        let assets = AssetPaths.fromEnvironment(repositoryRoot: CaptionerFixture.root)
        let vocab = assets.asset("gpt2/gpt2_vocab.json")
        try requireInput(FileManager.default.fileExists(atPath: vocab.path), "GPT-2 vocabulary not fetched")
        let tok = try GPT2Tokenizer(vocabJSON: vocab, mergesTXT: assets.asset("gpt2/gpt2_merges.txt"))
        XCTAssertEqual(tok.encode(text), e["prompt_gpt2_ids"] as? [Int])
    }

    func testMissingOrMisshapenTensorIsNamed() throws {
        let config = try SmallCapConfig.load(from: dir.appendingPathComponent("config.json"))
        let all = try CaptionerFixture.tensors(dir.appendingPathComponent("model.safetensors"))
        for name in ["decoder.transformer.h.1.crossattention.q_attn.weight", "decoder.transformer.h.0.ln_cross_attn.bias",
                     "encoder.encoder.layers.1.self_attn.k_proj.weight", "decoder.lm_head.weight"] {
            var t = all
            t[name] = nil
            if name == "decoder.lm_head.weight" {
                // GPT-2 falls back to the tied embedding when lm_head is absent; that is not an error.
                XCTAssertNoThrow(try SmallCap(config: config, weights: Weights(InMemoryTensors(t)), device: device))
                continue
            }
            XCTAssertThrowsError(try SmallCap(config: config, weights: Weights(InMemoryTensors(t)), device: device)) { error in
                XCTAssertEqual(error as? WeightError, .missing(name: name, source: "in-memory tensors"))
            }
        }
        var t = all
        t["decoder.transformer.h.0.crossattention.c_attn.weight"] = Tensor(zeros: [32, 48])  // factor 2 instead of 4
        XCTAssertThrowsError(try SmallCap(config: config, weights: Weights(InMemoryTensors(t)), device: device)) { error in
            XCTAssertEqual(error as? WeightError, .shapeMismatch(name: "decoder.transformer.h.0.crossattention.c_attn.weight",
                                                                 expected: [32, 16], actual: [32, 48], source: "in-memory tensors"))
        }
    }

    func testBadInputsAreRejected() throws {
        let model = try SmallCap(directory: dir, device: device)
        XCTAssertThrowsError(try model.makeState(encoderStates: Tensor(zeros: [1, 17, 31]), device: device))
        let enc = Tensor(zeros: [2, 17, 32])
        XCTAssertThrowsError(try model.generate(encoderStates: enc, prompts: [[1, 2], [1]], config: GenerationConfig(), device: device))
        XCTAssertThrowsError(try model.generate(encoderStates: enc, prompts: [[1, 2]], config: GenerationConfig(), device: device))
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("smallcap-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: bad) }
        try Data("{\"encoder\": {}}".utf8).write(to: bad.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try SmallCapConfig.load(from: bad.appendingPathComponent("config.json"))) { error in
            XCTAssertTrue("\(error)".contains("decoder"), "\(error)")
        }
    }
}
