import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels

/// CLIP parity with transformers on the tiny random checkpoint written by fixtures/gen/models.py,
/// in both the Hugging Face and the OpenAI layout (same weights, F16-exact).
final class CLIPTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelDir = root.appendingPathComponent("fixtures/models/clip-tiny")
    let device = Device(threads: 2)

    func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: Self.modelDir.appendingPathComponent("expected.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func tensor(_ any: Any?) throws -> Tensor {
        let dict = try XCTUnwrap(any as? [String: Any])
        let shape = try XCTUnwrap(dict["shape"] as? [Int]), data = try XCTUnwrap(dict["data"] as? [Double])
        return Tensor(data.map { Float($0) }, shape: shape)
    }

    /// Absolute error, relative for values beyond 1 in magnitude.
    func assertClose(_ a: Tensor?, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try XCTUnwrap(a, what, file: file, line: line)
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        let x = a.scalars, y = b.scalars
        var worst: Float = 0
        for i in 0..<x.count { worst = max(worst, abs(x[i] - y[i]) / max(1, abs(y[i]))) }
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(what): max error \(worst)", file: file, line: line)
    }

    func check(_ clip: CLIP, layout: String) throws {
        let e = try expected()
        let vision = try clip.vision.forward(pixels: tensor(e["pixel_values"]), device: device)
        try assertClose(vision.lastHiddenState, tensor(e["vision_last_hidden_state"]), "\(layout) vision last hidden")
        try assertClose(vision.pooled, tensor(e["vision_pooled"]), "\(layout) vision pooled")
        try assertClose(vision.imageEmbeds, tensor(e["image_embeds"]), "\(layout) image embeds")
        XCTAssertEqual(try vision.gridFeatures.shape, [2, 16, 128])
        try assertClose(clip.imageEmbeddings(pixels: tensor(e["pixel_values"]), device: device),
                        tensor(e["image_embeds_normalized"]), "\(layout) normalised image embeds")
        let ids = try XCTUnwrap(e["input_ids"] as? [[Int]])
        let text = try XCTUnwrap(clip.text).forward(ids: ids, device: device)
        try assertClose(text.lastHiddenState, tensor(e["text_last_hidden_state"]), "\(layout) text last hidden")
        try assertClose(text.pooled, tensor(e["text_pooled"]), "\(layout) text pooled")
        try assertClose(text.textEmbeds, tensor(e["text_embeds"]), "\(layout) text embeds")
        try assertClose(clip.textEmbeddings(ids: ids, device: device), tensor(e["text_embeds_normalized"]), "\(layout) normalised text embeds")
    }

    func testHuggingFaceLayoutMatchesTransformers() throws {
        let clip = try CLIP(directory: Self.modelDir, device: device)
        XCTAssertEqual(clip.vision.config.hiddenSize, 128)
        XCTAssertEqual(clip.vision.config.patchSize, 8)
        XCTAssertEqual(clip.vision.projectionDim, 64)
        XCTAssertEqual(clip.text?.config.eosTokenId, 199)
        try check(clip, layout: "HF")
    }

    func testOpenAILayoutMatchesTransformers() throws {
        let file = try SafetensorsFile(url: Self.modelDir.appendingPathComponent("openai.safetensors"))
        let clip = try CLIP(openAI: Weights(file))
        XCTAssertEqual(clip.vision.config.imageSize, 32)
        XCTAssertEqual(clip.vision.config.numAttentionHeads, 2)
        XCTAssertEqual(clip.vision.config.numHiddenLayers, 2)
        XCTAssertEqual(clip.text?.config.maxPositionEmbeddings, 16)
        try check(clip, layout: "OpenAI")
    }

    func testMissingOrMisshapenTensorIsNamed() throws {
        let file = try SafetensorsFile(url: Self.modelDir.appendingPathComponent("model.safetensors"))
        let config = try CLIPConfig.load(from: Self.modelDir.appendingPathComponent("config.json"))
        var tensors: [String: Tensor] = [:]
        for name in file.tensorNames { tensors[name] = try file.loadTensor(name) }
        var missing = tensors
        missing["vision_model.encoder.layers.1.self_attn.k_proj.bias"] = nil
        XCTAssertThrowsError(try CLIP(huggingFace: Weights(InMemoryTensors(missing)), config: config, device: device)) { error in
            XCTAssertEqual(error as? WeightError, .missing(name: "vision_model.encoder.layers.1.self_attn.k_proj.bias", source: "in-memory tensors"))
        }
        var reshaped = tensors
        reshaped["text_model.encoder.layers.0.mlp.fc1.weight"] = try tensors["text_model.encoder.layers.0.mlp.fc1.weight"]?.transposed().contiguous()
        XCTAssertThrowsError(try CLIP(huggingFace: Weights(InMemoryTensors(reshaped)), config: config, device: device)) { error in
            XCTAssertEqual(error as? WeightError, .shapeMismatch(name: "text_model.encoder.layers.0.mlp.fc1.weight", expected: [256, 128],
                                                                actual: [128, 256], source: "in-memory tensors"))
        }
    }

    func testOpenAILayoutErrorsNameTheTensor() throws {
        let file = try SafetensorsFile(url: Self.modelDir.appendingPathComponent("openai.safetensors"))
        var tensors: [String: Tensor] = [:]
        for name in file.tensorNames { tensors[name] = try file.loadTensor(name) }
        var missing = tensors
        missing["visual.transformer.resblocks.1.attn.in_proj_bias"] = nil
        XCTAssertThrowsError(try CLIP(openAI: Weights(InMemoryTensors(missing)))) { error in
            XCTAssertEqual(error as? WeightError, .missing(name: "visual.transformer.resblocks.1.attn.in_proj_bias", source: "in-memory tensors"))
        }
        var flat = tensors
        flat["visual.positional_embedding"] = Tensor(zeros: [17 * 128])
        XCTAssertThrowsError(try CLIP(openAI: Weights(InMemoryTensors(flat)))) { error in
            XCTAssertTrue("\(error)".contains("visual.positional_embedding"), "\(error)")
        }
        var wrongGrid = tensors
        wrongGrid["visual.positional_embedding"] = Tensor(zeros: [18, 128])
        XCTAssertThrowsError(try CLIP(openAI: Weights(InMemoryTensors(wrongGrid)))) { error in
            XCTAssertEqual(error as? CLIPError, .layout("visual.positional_embedding has shape [18, 128], expected [grid² + 1, 128]"))
        }
        var badProj = tensors
        badProj["text_projection"] = Tensor(zeros: [64, 128])
        XCTAssertThrowsError(try CLIP(openAI: Weights(InMemoryTensors(badProj))))
    }

    func testPresetsAndBadInput() throws {
        XCTAssertEqual(CLIPVisionConfig.vitB32.tokens, 50)
        XCTAssertEqual(CLIPVisionConfig.vitB16.tokens, 197)
        XCTAssertEqual(CLIPVisionConfig.vitL14.tokens, 257)
        XCTAssertEqual(CLIPVisionConfig.vitL14.hiddenSize / CLIPVisionConfig.vitL14.numAttentionHeads, 64)
        let clip = try CLIP(directory: Self.modelDir, device: device)
        XCTAssertThrowsError(try clip.vision.forward(pixels: Tensor(zeros: [1, 3, 224, 224]), device: device))
        XCTAssertThrowsError(try clip.text?.forward(ids: [[1, 2, 3]], device: device)) { error in
            XCTAssertEqual(error as? CLIPError, .invalidInput("row 0 has no end-of-text token 199"))
        }
        XCTAssertThrowsError(try clip.text?.forward(ids: [Array(repeating: 199, count: 17)], device: device))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("clip-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        try Data(#"{"vision_config": {"image_size": 30, "patch_size": 8}}"#.utf8).write(to: url)
        XCTAssertThrowsError(try CLIPConfig.load(from: url)) { XCTAssertTrue("\($0)".contains("multiple of patch_size")) }
        // A vision-only config (CLIPVisionModelWithProjection) with defaults for absent keys.
        try Data(#"{"hidden_size": 64, "num_attention_heads": 1, "projection_dim": 32}"#.utf8).write(to: url)
        let flat = try CLIPConfig.load(from: url)
        XCTAssertEqual(flat.vision.hiddenSize, 64)
        XCTAssertEqual(flat.vision.patchSize, 32)
        XCTAssertEqual(flat.projectionDim, 32)
        XCTAssertNil(flat.text)
    }
}
