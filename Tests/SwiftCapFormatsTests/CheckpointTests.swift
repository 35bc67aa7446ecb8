import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapFormats

final class CheckpointTests: XCTestCase {
    func testDetectAndSummariseEachFixture() throws {
        let cases: [(String, CheckpointFormat, String)] = [
            ("tiny.safetensors", .safetensors, "note"), ("tiny.gguf", .gguf, "general.architecture"),
            ("tiny_zip.pt", .pytorchZip, "epoch"), ("tiny_legacy.pt", .pytorchLegacy, "epoch"), ("tiny.onnx", .onnx, "ops"),
        ]
        for (name, format, key) in cases {
            let url = fixture(name)
            XCTAssertEqual(Checkpoint.detect(try MappedFile(url: url)), format, name)
            let source = try Checkpoint.open(url)
            let summary = try Checkpoint.summary(url)
            XCTAssertEqual(summary.format, format)
            XCTAssertEqual(summary.tensors.map(\.name), source.tensorNames, name)
            XCTAssertEqual(summary.tensors.map(\.shape), source.tensorNames.map { source.tensorInfo($0)?.shape ?? [-1] }, name)
            XCTAssertTrue(summary.metadata.contains { $0.key == key }, "\(name): \(summary.metadata)")
        }
        // ONNX detection by content, without the extension
        let onnxBytes = [UInt8](try Data(contentsOf: fixture("tiny.onnx")))
        XCTAssertEqual(Checkpoint.detect(MappedFile(bytes: onnxBytes, name: "model.bin")), .onnx)
    }

    func testSafetensorsWhoseHeaderLengthStartsWith0x80() throws {
        // pad the tensor name until the (8-aligned) header is exactly 128 bytes long
        var name = "w"
        var bytes: [UInt8] = []
        while true {
            bytes = try SafetensorsWriter.encode([(name, Tensor([1, 2]))])
            if bytes[0] >= 0x80 { break }
            name += "x"
        }
        XCTAssertEqual(bytes[0], 0x80)
        let f = MappedFile(bytes: bytes, name: "odd.safetensors")
        XCTAssertEqual(Checkpoint.detect(f), .safetensors)
    }

    func testUnknownFileIsATypedError() throws {
        let url = repositoryRoot.appendingPathComponent("Package.swift")
        XCTAssertThrowsError(try Checkpoint.summary(url)) {
            XCTAssertTrue("\($0)".contains("Package.swift") && "\($0)".contains("not a safetensors, GGUF, PyTorch or ONNX file"), "\($0)")
        }
    }
}
