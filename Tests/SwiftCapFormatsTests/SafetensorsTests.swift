import Foundation
import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
@testable import SwiftCapFormats

final class SafetensorsTests: XCTestCase {
    func testReadsFixtureMatchingPyTorch() throws {
        let st = try SafetensorsFile(url: fixture("tiny.safetensors"))
        let expected = try loadExpected("tiny.safetensors.expected.json")
        let tensors = try XCTUnwrap(expected["tensors"] as? [String: Any])
        XCTAssertEqual(Set(st.tensorNames), Set(tensors.keys))
        XCTAssertEqual(st.metadata, expected["metadata"] as? [String: String])
        for (name, any) in tensors {
            let e = try XCTUnwrap(any as? [String: Any])
            let info = try XCTUnwrap(st.tensorInfo(name))
            XCTAssertEqual(info.dtype, e["dtype"] as? String, name)
            XCTAssertEqual(info.shape, ints(e["shape"]), name)
            let t = try st.loadTensor(name)
            XCTAssertEqual(t.shape, info.shape, name)
            assertClose(t.scalars, floats(e["values"]), name)
        }
        // file order is data-offset order
        let begins = st.tensorNames.compactMap { st.entry($0)?.begin }
        XCTAssertEqual(begins, begins.sorted())
    }

    func testF32IsZeroCopyWhenAligned() throws {
        let st = try SafetensorsFile(url: fixture("tiny.safetensors"))
        let t = try st.loadTensor("embed.weight")
        XCTAssertTrue(t.storage.owner === st.file, "aligned F32 data should borrow the mapping")
        // a converted dtype owns its storage
        XCTAssertNil(try st.loadTensor("layers.0.fc.weight").storage.owner)
        // writes through the Tensor API copy rather than touching the read-only mapping
        var w = t
        w.withUnsafeMutableBufferPointer { $0[0] = 1234 }
        XCTAssertEqual(w[0, 0], 1234)
        XCTAssertNotEqual(try st.loadTensor("embed.weight")[0, 0], 1234)
    }

    func testWeightsBindingThroughSafetensors() throws {
        let st = try SafetensorsFile(url: fixture("tiny.safetensors"))
        let w = Weights(st).pp("layers").pp(0)
        XCTAssertEqual(try w.tensor("fc.weight", shape: [3, 4]).shape, [3, 4])
        XCTAssertThrowsError(try w.tensor("fc.weight", shape: [4, 3]))
        XCTAssertThrowsError(try w.tensor("nope")) { XCTAssertEqual($0 as? WeightError, .missing(name: "layers.0.nope", source: st.sourceDescription)) }
    }

    func testWriterRoundTripF32AndF16() throws {
        let input = try loadExpected("writer_input.json")
        let shape = ints(input["shape"])
        let values = floats(input["values"])
        let t = Tensor(values, shape: shape)
        let strided = try t.transposed(0, 2)  // non-contiguous input is written in logical order
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-st-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url32 = dir.appendingPathComponent("a.safetensors")
        try SafetensorsWriter.write([("x", t), ("x.T", strided)], to: url32, metadata: ["k": "v\"q"])
        let r32 = try SafetensorsFile(url: url32)
        XCTAssertEqual(r32.tensorNames, ["x", "x.T"])
        XCTAssertEqual(r32.metadata, ["k": "v\"q"])
        XCTAssertEqual(try r32.loadTensor("x").scalars, values)
        XCTAssertEqual(try r32.loadTensor("x.T").scalars, strided.scalars)
        XCTAssertEqual(r32.dataStart % 8, 0)

        let url16 = dir.appendingPathComponent("b.safetensors")
        try SafetensorsWriter.write([("x", t)], to: url16, as: .f16)
        let r16 = try SafetensorsFile(url: url16)
        XCTAssertEqual(r16.tensorInfo("x")?.dtype, "F16")
        // torch's float32 -> float16 rounding, read back
        assertClose(try r16.loadTensor("x").scalars, floats(input["as_f16"]), "F16 round trip vs torch")

        XCTAssertThrowsError(try SafetensorsWriter.write([("x", t), ("x", t)], to: url16))
    }

    func testHalfConversionExhaustiveRoundTrip() {
        // every finite binary16 value converts to Float and back to the same bits
        for bits in 0...UInt16.max {
            let f = Half.toFloat(bits)
            if f.isNaN { continue }
            XCTAssertEqual(Half.fromFloat(f), bits, "half bits \(bits)")
        }
        XCTAssertEqual(Half.fromFloat(65520), 0x7c00)  // rounds to inf
        XCTAssertEqual(Half.fromFloat(65519), 0x7bff)
        XCTAssertTrue(Half.toFloat(Half.fromFloat(.nan)).isNaN)
    }

    // MARK: malformed headers

    private func header(_ json: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> MappedFile {
        var bytes: [UInt8] = []
        let h = Array(json.utf8)
        var n = (lengthOverride ?? UInt64(h.count)).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes += h + data
        return MappedFile(bytes: bytes, name: "bad.safetensors")
    }

    private func assertFormatError(_ f: MappedFile, contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(file: f), file: file, line: line) { error in
            guard let fe = error as? FormatError else { return XCTFail("not a FormatError: \(error)", file: file, line: line) }
            XCTAssertEqual(fe.file, "bad.safetensors", file: file, line: line)
            XCTAssertTrue(fe.description.contains(contains), "'\(fe)' should mention '\(contains)'", file: file, line: line)
        }
    }

    func testMalformedHeadersGiveTypedErrors() {
        assertFormatError(MappedFile(bytes: [1, 2, 3], name: "bad.safetensors"), contains: "8-byte header length")
        assertFormatError(header("{}", lengthOverride: 1 << 40), contains: "exceeds the limit")
        assertFormatError(header("{}", lengthOverride: 100), contains: "only 2 bytes follow")
        assertFormatError(header("[1,2]"), contains: "does not start with")
        assertFormatError(header("{\"a\":"), contains: "not valid JSON")
        assertFormatError(header("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "unknown dtype 'F33'")
        assertFormatError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "needs 8")
        assertFormatError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data: [0, 0, 0, 0]), contains: "outside the data buffer")
        assertFormatError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "negative")
        assertFormatError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", data: [0, 0, 0, 0]), contains: "outside")
        assertFormatError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: [UInt8](repeating: 0, count: 8)), contains: "overlap")
        assertFormatError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "too many")
        assertFormatError(header("{\"__metadata__\":{\"a\":1}}"), contains: "not a string")
    }

    func testMissingFileAndDirectory() {
        XCTAssertThrowsError(try SafetensorsFile(path: "/nonexistent/x.safetensors")) {
            XCTAssertTrue(String(describing: $0).contains("/nonexistent/x.safetensors"))
        }
        XCTAssertThrowsError(try SafetensorsFile(path: NSTemporaryDirectory())) {
            XCTAssertTrue(String(describing: $0).contains("not a regular file"))
        }
    }

    func testMiniLMAssetIfPresent() throws {
        let url = AssetPaths.fromEnvironment(repositoryRoot: repositoryRoot).asset("minilm/model.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("minilm asset not found at \(url.path); run scripts/fetch-assets.sh")
        }
        let st = try SafetensorsFile(url: url)
        let emb = try XCTUnwrap(st.tensorNames.first { $0.hasSuffix("word_embeddings.weight") })
        XCTAssertEqual(st.tensorInfo(emb)?.shape, [30522, 384])
        XCTAssertEqual(st.tensorNames.filter { $0.contains("attention.self.query.weight") }.count, 6)
    }
}
