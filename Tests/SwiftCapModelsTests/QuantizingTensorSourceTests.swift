import XCTest
import SwiftCapTestSupport
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels

/// `QuantizingTensorSource` (quantize at load, no file) must give the model a file written by
/// `CheckpointQuantizer` gives: the same matrices held quantized, the same logits bit for bit.
final class QuantizingTensorSourceTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let device = Device(threads: 2)

    func testInMemoryQuantizationMatchesAQuantizedFile() throws {
        let dir = Self.root.appendingPathComponent("fixtures/models/gpt2-tiny")
        let config = try GPT2Config.load(from: dir.appendingPathComponent("config.json"))
        let source = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-qsrc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let prompt = [[5, 17, 300, 999, 42, 7, 7, 8]]
        for target in [QuantizeTarget.int8, .q4, .f16] {
            let url = tmp.appendingPathComponent("\(target).safetensors")
            _ = try CheckpointQuantizer.convert(source, to: url, options: .init(target: target, minMatrixElements: 1024), device: device)
            let fromFile = try GPT2(config: config, weights: Weights(QuantizedCheckpoint(url: url)))
            let inMemory = QuantizingTensorSource(source, to: target, minElements: 1024, device: device)
            let model = try GPT2(config: config, weights: Weights(inMemory))
            guard case .quantized(let wte) = model.wte else { return XCTFail("\(target): wte not held quantized") }
            XCTAssertEqual(wte.scheme.rawValue, target.rawValue)
            XCTAssertEqual(model.weightBytes, fromFile.weightBytes, "\(target)")
            XCTAssertGreaterThan(inMemory.quantizedCount.matrices, 0)
            var c1 = model.makeCache(), c2 = fromFile.makeCache()
            let a = try model.logits(model.hiddenStates(ids: prompt, cache: &c1, device: device), device: device)
            let b = try fromFile.logits(fromFile.hiddenStates(ids: prompt, cache: &c2, device: device), device: device)
            XCTAssertEqual(a.scalars, b.scalars, "\(target): logits differ from the quantized file's")
            // A matrix read as a plain tensor carries the same rounding as the file's dequantized copy.
            let name = "transformer.h.0.mlp.c_fc.weight"
            XCTAssertEqual(try inMemory.loadTensor(name).scalars, try QuantizedCheckpoint(url: url).loadTensor(name).scalars)
        }
        // f32 passes everything through untouched.
        let plain = QuantizingTensorSource(source, to: .f32, device: device)
        XCTAssertNil(try plain.quantizedMatrix("transformer.h.0.mlp.c_fc.weight"))
        XCTAssertEqual(try plain.loadTensor("transformer.h.0.mlp.c_fc.weight").scalars, try source.loadTensor("transformer.h.0.mlp.c_fc.weight").scalars)
    }
}
