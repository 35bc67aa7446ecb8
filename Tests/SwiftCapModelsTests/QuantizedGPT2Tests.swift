import XCTest
import SwiftCapTestSupport
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels

/// GPT-2 and the concept decoder loaded from int8/q4 checkpoints keep their matrices quantized in memory and
/// compute the same logits as the same model built from the dequantized fp32 weights.
final class QuantizedGPT2Tests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Exact-match checks: int8 weights with fp32 activations (the integer GEMM is checked separately below).
    let device = Device(threads: 2).withIntegerGEMM(false)

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-qgpt2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Every tensor of `source` loaded (quantized ones dequantized to fp32) into memory.
    func dequantizedCopy(_ source: any TensorSource) throws -> InMemoryTensors {
        var tensors: [String: Tensor] = [:]
        for name in source.tensorNames { tensors[name] = try source.loadTensor(name) }
        return InMemoryTensors(tensors, description: "dequantized \(source.sourceDescription)")
    }

    /// Largest |a - b| relative to the largest |b| (logits of random models are of order 1–10).
    func relativeError(_ a: Tensor, _ b: Tensor) throws -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let scale = b.scalars.map(abs).max() ?? 1
        return try a.maxAbsDifference(b) / max(scale, 1e-6)
    }

    /// With the integer GEMM (int8 activations from 16 rows on), the 80-row prompt stays close to the
    /// dequantized-weight model, and differs from the fp32-activation path where VNNI is compiled in.
    func testTinyGPT2Int8PromptOnTheIntegerGEMMStaysClose() throws {
        let dir = Self.root.appendingPathComponent("fixtures/models/gpt2-tiny")
        let config = try GPT2Config.load(from: dir.appendingPathComponent("config.json"))
        let source = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        let url = try temporaryDirectory().appendingPathComponent("int8.safetensors")
        _ = try CheckpointQuantizer.convert(source, to: url, options: .init(target: .int8, minMatrixElements: 1024), device: device)
        let file = try QuantizedCheckpoint(url: url)
        let model = try GPT2(config: config, weights: Weights(file))
        let reference = try GPT2(config: config, weights: Weights(dequantizedCopy(file)))
        let long = [(0..<40).map { ($0 * 37) % 1000 }, (0..<40).map { ($0 * 11 + 5) % 1000 }]
        let integer = device.withIntegerGEMM(true)
        var c1 = model.makeCache(), c2 = reference.makeCache(), c3 = model.makeCache()
        let li = try model.logits(model.hiddenStates(ids: long, cache: &c1, device: integer), device: integer)
        let lr = try reference.logits(reference.hiddenStates(ids: long, cache: &c2, device: device), device: device)
        let lf = try model.logits(model.hiddenStates(ids: long, cache: &c3, device: device), device: device)
        XCTAssertLessThan(try relativeError(li, lr), 0.05)
        if QuantKernel.hasIntegerGEMM { XCTAssertGreaterThan(try li.maxAbsDifference(lf), 0) }
    }

    func testTinyGPT2RunsQuantizedAndMatchesItsDequantizedWeights() throws {
        let dir = Self.root.appendingPathComponent("fixtures/models/gpt2-tiny")
        let config = try GPT2Config.load(from: dir.appendingPathComponent("config.json"))
        let source = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        let fp32 = try GPT2(config: config, weights: Weights(source))
        let tmp = try temporaryDirectory()
        let prompt = [[5, 17, 300, 999, 42, 7, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]]
        for target in [QuantizeTarget.int8, .q4, .f16] {
            let url = tmp.appendingPathComponent("\(target).safetensors")
            // 64-wide matrices: [64, 192] etc. hold >= 1024 elements.
            _ = try CheckpointQuantizer.convert(source, to: url, options: .init(target: target, minMatrixElements: 1024), device: device)
            let file = try QuantizedCheckpoint(url: url)
            let model = try GPT2(config: config, weights: Weights(file))
            guard case .quantized(let wte) = model.wte else { return XCTFail("\(target): wte was dequantized at load") }
            XCTAssertEqual(wte.scheme.rawValue, target.rawValue)
            XCTAssertLessThan(Double(model.weightBytes), Double(fp32.weightBytes) / (target == .f16 ? 1.9 : 3),
                              "\(target): \(model.weightBytes) vs fp32 \(fp32.weightBytes) bytes")
            let reference = try GPT2(config: config, weights: Weights(dequantizedCopy(file)))
            guard case .dense = reference.wte else { return XCTFail("reference should be dense") }

            // Prompt (8 rows per step: fused kernels), then 3 single-token steps through the cache.
            var cq = model.makeCache(), cr = reference.makeCache()
            let hq = try model.hiddenStates(ids: prompt, cache: &cq, device: device)
            let hr = try reference.hiddenStates(ids: prompt, cache: &cr, device: device)
            XCTAssertLessThan(try relativeError(model.logits(hq, device: device), reference.logits(hr, device: device)), 1e-5, "\(target) prompt")
            for t in [11, 600, 3] {
                let lq = try model.nextLogits(tokens: [t, t], state: &cq, device: device)
                let lr = try reference.nextLogits(tokens: [t, t], state: &cr, device: device)
                XCTAssertLessThan(try relativeError(lq, lr), 1e-5, "\(target) step \(t)")
            }
            // Two rows of 40 tokens: 80 rows per matrix, the block-dequantize + sgemm path.
            XCTAssertLessThan(Device.quantizedGEMVMaxRows, 80)
            let long = [(0..<40).map { ($0 * 37) % 1000 }, (0..<40).map { ($0 * 11 + 5) % 1000 }]
            var c1 = model.makeCache(), c2 = reference.makeCache()
            XCTAssertLessThan(try relativeError(model.logits(model.hiddenStates(ids: long, cache: &c1, device: device), device: device),
                                                reference.logits(reference.hiddenStates(ids: long, cache: &c2, device: device), device: device)),
                              1e-5, "\(target) 40 tokens")
            // And the quantization itself moves the logits (the test would notice a silently dense model).
            var cf = fp32.makeCache()
            let lf = try fp32.logits(fp32.hiddenStates(ids: prompt, cache: &cf, device: device), device: device)
            XCTAssertGreaterThan(try relativeError(model.logits(hq, device: device), lf), 1e-6, "\(target) differs from fp32")
        }
    }

    func testShippedConceptDecoderRunsQuantized() throws {
        let url = Self.root.appendingPathComponent("models/concept-decoder.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else { throw missingInput("models/concept-decoder.safetensors not present") }
        let tmp = try temporaryDirectory()
        let source = try SafetensorsFile(url: url)
        let prompt = [7, 8, 9, ConceptDecoder.sep, 20, 21, 22, 23, ConceptDecoder.sep, ConceptDecoder.bos]
        for target in [QuantizeTarget.int8, .q4, .f16] {
            let out = tmp.appendingPathComponent("decoder-\(target).safetensors")
            _ = try CheckpointQuantizer.convert(source, to: out, options: .init(target: target, minMatrixElements: 1024),
                                                device: device, extraMetadata: source.metadata)
            let decoder = try ConceptDecoder(url: out)
            guard case .quantized = decoder.model.wte else { return XCTFail("\(target): wte was dequantized at load") }
            let reference = try ConceptDecoder(model: GPT2(config: decoder.config, weights: Weights(dequantizedCopy(QuantizedCheckpoint(url: out)))),
                                               tokens: decoder.tokens)
            var (cq, lq) = try decoder.prefill(prompt, device: device)
            var (cr, lr) = try reference.prefill(prompt, device: device)
            XCTAssertLessThan(try relativeError(lq, lr), 1e-5, "\(target) prefill")
            // Five beams of one step each (the generative captioner's shape).
            try decoder.model.reorderState(&cq, rows: [0, 0, 0, 0, 0], device: device)
            try reference.model.reorderState(&cr, rows: [0, 0, 0, 0, 0], device: device)
            lq = try decoder.model.nextLogits(tokens: [30, 31, 32, 33, 34], state: &cq, device: device)
            lr = try reference.model.nextLogits(tokens: [30, 31, 32, 33, 34], state: &cr, device: device)
            XCTAssertLessThan(try relativeError(lq, lr), 1e-5, "\(target) beam step")
        }
    }

    /// CLIP (HF layout, fused q/k/v from three quantized matrices) from an int8/q4 file vs its dequantized weights.
    func testTinyCLIPRunsQuantizedAndMatchesItsDequantizedWeights() throws {
        let dir = Self.root.appendingPathComponent("fixtures/models/clip-tiny")
        let config = try CLIPConfig.load(from: dir.appendingPathComponent("config.json"))
        let source = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        let tmp = try temporaryDirectory()
        var rng = SplitMix64(seed: 1)
        let size = config.vision.imageSize
        let pixels = Tensor((0..<(2 * 3 * size * size)).map { _ in rng.nextFloat() * 2 - 1 }, shape: [2, 3, size, size])
        for target in [QuantizeTarget.int8, .q4, .f16] {
            let url = tmp.appendingPathComponent("clip-\(target).safetensors")
            let report = try CheckpointQuantizer.convert(source, to: url, options: .init(target: target, minMatrixElements: 1024), device: device)
            XCTAssertTrue(report.rows.contains { $0.name.hasSuffix("q_proj.weight") && $0.storedAs.lowercased() == target.rawValue }, "\(target): q_proj quantized")
            let file = try QuantizedCheckpoint(url: url)
            let clip = try CLIP(huggingFace: Weights(file), config: config, device: device)
            let reference = try CLIP(huggingFace: Weights(dequantizedCopy(file)), config: config, device: device)
            let a = try clip.vision.forward(pixels: pixels, device: device), b = try reference.vision.forward(pixels: pixels, device: device)
            XCTAssertLessThan(try relativeError(a.lastHiddenState, b.lastHiddenState), 1e-5, "\(target) vision")
            let ids = [[1, 5, 9, 199], [1, 7, 199, 199]]
            let ta = try XCTUnwrap(clip.text).forward(ids: ids, device: device), tb = try XCTUnwrap(reference.text).forward(ids: ids, device: device)
            XCTAssertLessThan(try relativeError(ta.lastHiddenState, tb.lastHiddenState), 1e-5, "\(target) text")
        }
    }
}
