import XCTest
@testable import SwiftCapModels
import SwiftCapTensor
import SwiftCapFormats

/// The concept head against torch (fixtures/concepts, scripts/make_concept_head_fixture.py).
final class ConceptHeadTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> URL { root.appendingPathComponent("fixtures/concepts/\(name)") }

    struct Expected: Decodable { var inputs: [Float]; var rows: Int; var probabilities: [Float] }

    func testProbabilitiesMatchTorch() throws {
        let head = try ConceptHead(url: Self.fixture("head.safetensors"))
        XCTAssertEqual(head.vocabulary, ["dog", "frisbee", "grass", "running"])
        XCTAssertEqual(head.heads.count, 2)
        let e = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixture("head_expected.json")))
        let p = try head.probabilities(e.inputs, device: Device(threads: 1))
        XCTAssertEqual(p.count, e.probabilities.count)
        for (a, b) in zip(p, e.probabilities) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testBadInputsAndFilesAreRefusedByName() throws {
        let head = try ConceptHead(url: Self.fixture("head.safetensors"))
        XCTAssertThrowsError(try head.probabilities([1, 2, 3], device: Device(threads: 1))) {
            XCTAssertTrue("\($0)".contains("rows of 7"), "\($0)")
        }
        // Another kind of safetensors file, and a truncated one.
        let other = Self.root.appendingPathComponent("fixtures/bootstrap/paired.json")
        XCTAssertThrowsError(try ConceptHead(url: other)) { XCTAssertTrue("\($0)".contains("paired.json"), "\($0)") }
        let bytes = try Data(contentsOf: Self.fixture("head.safetensors"))
        let cut = FileManager.default.temporaryDirectory.appendingPathComponent("head-cut-\(UUID().uuidString).safetensors")
        try bytes.prefix(bytes.count - 40).write(to: cut)
        defer { try? FileManager.default.removeItem(at: cut) }
        XCTAssertThrowsError(try ConceptHead(url: cut)) { XCTAssertTrue("\($0)".contains(cut.lastPathComponent), "\($0)") }
    }

    /// A head written by `swiftcap quantize --to int8` (every matrix, min 1 element) loads, and its
    /// probabilities stay close to the fp32 ones (the matrices come back dequantized).
    func testInt8QuantizedHeadFileLoads() throws {
        let url = Self.fixture("head.safetensors")
        let file = try SafetensorsFile(url: url)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("head-int8-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: out) }
        let report = try CheckpointQuantizer.convert(file, to: out, options: .init(target: .int8, minMatrixElements: 1),
                                                     device: Device(threads: 1), extraMetadata: file.metadata)
        XCTAssertTrue(report.rows.contains { $0.storedAs == "int8" }, "\(report.rows)")
        let e = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixture("head_expected.json")))
        let p = try ConceptHead(url: out).probabilities(e.inputs, device: Device(threads: 1))
        let p0 = try ConceptHead(url: url).probabilities(e.inputs, device: Device(threads: 1))
        XCTAssertEqual(p.count, p0.count)
        XCTAssertNotEqual(p, p0)
        for (a, b) in zip(p, p0) { XCTAssertEqual(a, b, accuracy: 0.02) }
    }
}
