import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapFormats

/// `swiftcap quantize`'s safetensors convention: numpy-written fixtures read back, the Swift
/// quantizer reproduces them byte for byte, round trips, and malformed files give typed errors.
final class QuantizedCheckpointTests: XCTestCase {
    /// fp32 activations: these checks are exact against numpy (the integer GEMM has its own tests).
    let device = Device(threads: 2).withIntegerGEMM(false)

    func perfFixture(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("fixtures/perf").appendingPathComponent(name)
    }

    func tempURL(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-quant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name)
    }

    func testNumpyWrittenFilesDequantizeToTheReferenceValues() throws {
        let expected = try SafetensorsFile(url: perfFixture("quant_expected.safetensors"))
        for scheme in ["q4", "int8"] {
            let source = try Checkpoint.open(perfFixture("quant_\(scheme).safetensors"))
            guard let q = source as? QuantizedCheckpoint else { return XCTFail("\(scheme) file not opened as quantized") }
            XCTAssertEqual(Set(q.tensorNames), ["fc.weight", "proj.weight", "fc.bias"], "scale companions are hidden")
            XCTAssertEqual(Set(q.quantizedNames), ["fc.weight", "proj.weight"])
            XCTAssertEqual(q.tensorInfo("fc.weight")?.shape, [12, 96])
            XCTAssertEqual(q.tensorInfo("fc.weight")?.dtype, scheme == "q4" ? "Q4_G32" : "Q8_ROW")
            XCTAssertNil(q.tensorInfo("fc.weight.__scale"))
            for name in ["fc.weight", "proj.weight", "fc.bias"] {
                let got = try q.loadTensor(name)
                let want = try expected.loadTensor("\(scheme)/\(name)")
                XCTAssertEqual(got.shape, want.shape, name)
                XCTAssertEqual(try got.maxAbsDifference(want), 0, "\(scheme) \(name)")
            }
            // The fast path sees the same weights.
            let w = Weights(source)
            XCTAssertNil(try w.quantizedMatrix("fc.bias"))
            let m = try XCTUnwrap(try w.pp("fc").quantizedMatrix("weight", shape: [12, 96]))
            XCTAssertEqual(m.scheme, scheme == "q4" ? .q4 : .int8)
            XCTAssertThrowsError(try w.quantizedMatrix("fc.weight", shape: [96, 12]))
            let x = Tensor((0..<(2 * 96)).map { Float($0 % 7) - 3 }, shape: [2, 96])
            let y = try device.linear(x, weight: m, bias: try w.tensor("fc.bias"))
            let yRef = try device.linear(x, weight: try expected.loadTensor("\(scheme)/fc.weight"), bias: try w.tensor("fc.bias"))
            XCTAssertLessThanOrEqual(try y.maxAbsDifference(yRef), 1e-4)
        }
    }

    func testSwiftQuantizerReproducesTheNumpyFilesExactly() throws {
        let source = try Checkpoint.open(perfFixture("quant_source.safetensors"))
        for target in [QuantizeTarget.q4, .int8] {
            let out = try tempURL("m-\(target).safetensors")
            let report = try CheckpointQuantizer.convert(source, to: out, options: .init(target: target, minMatrixElements: 1),
                                                         device: device)
            if target == .q4 { XCTAssertTrue(report.notes.contains { $0.contains("proj.weight") }, "int8 fallback reported") }
            let mine = try SafetensorsFile(url: out), ref = try SafetensorsFile(url: perfFixture("quant_\(target).safetensors"))
            XCTAssertEqual(mine.metadata[QuantizedCheckpoint.metadataKey], target.rawValue)
            XCTAssertEqual(Set(mine.tensorNames), Set(ref.tensorNames))
            for name in ref.tensorNames {
                let a = try XCTUnwrap(mine.entry(name)), b = try XCTUnwrap(ref.entry(name))
                XCTAssertEqual(a.dtype, b.dtype, name)
                XCTAssertEqual(a.shape, b.shape, name)
                let bytesA = try mine.file.copyBytes(offset: mine.dataStart + a.begin, length: a.end - a.begin, what: name)
                let bytesB = try ref.file.copyBytes(offset: ref.dataStart + b.begin, length: b.end - b.begin, what: name)
                XCTAssertEqual(bytesA, bytesB, "\(target) \(name): stored bytes differ from the numpy implementation")
            }
        }
    }

    func testRoundTripOfEveryTargetAndPruning() throws {
        var rng = SplitMix64(seed: 4)
        let matrix = Tensor((0..<(64 * 96)).map { _ in rng.nextFloat() - 0.5 }, shape: [64, 96])
        let odd = Tensor((0..<(40 * 130)).map { _ in rng.nextFloat() - 0.5 }, shape: [40, 130])
        let bias = Tensor((0..<64).map { _ in rng.nextFloat() })
        let small = Tensor((0..<9).map { Float($0) }, shape: [3, 3])
        let source = InMemoryTensors(["a.weight": matrix, "b.weight": odd, "a.bias": bias, "small": small])
        for target in QuantizeTarget.allCases {
            let out = try tempURL("\(target).safetensors")
            let report = try CheckpointQuantizer.convert(source, to: out, options: .init(target: target), device: device)
            let reread = try Checkpoint.open(out)
            XCTAssertEqual(Set(reread.tensorNames), Set(source.tensorNames))
            XCTAssertEqual(report.outputBytes, try FileManager.default.attributesOfItem(atPath: out.path)[.size] as? Int)
            let tolerance: (Tensor) -> Float = { t in
                let maxAbs = t.scalars.map(abs).max() ?? 0
                switch target {
                case .f32: return 0
                case .f16: return maxAbs / 1024
                case .int8: return maxAbs / 127 / 2 * 1.0001
                case .q4: return maxAbs / 7 / 2 * 1.001
                }
            }
            for (name, t) in [("a.weight", matrix), ("a.bias", bias), ("small", small)] {
                let got = try reread.loadTensor(name)
                XCTAssertEqual(got.shape, t.shape)
                let tol = name == "a.weight" ? tolerance(t) : (target == .f16 ? tolerance(t) : 0)
                XCTAssertLessThanOrEqual(try got.maxAbsDifference(t), tol, "\(target) \(name)")
            }
            let bInfo = try XCTUnwrap(reread.tensorInfo("b.weight"))
            XCTAssertEqual(bInfo.shape, [40, 130])
            if target == .q4 || target == .int8 { XCTAssertEqual(bInfo.dtype, "Q8_ROW", "q4 falls back to int8 for 130 columns") }
            let isQuantized = (reread as? QuantizedCheckpoint).map { (try? $0.quantizedMatrix("a.weight")) != nil } ?? false
            XCTAssertEqual(isQuantized, target == .int8 || target == .q4)
        }
        // Pruning: exactly the fraction of each matrix is zero, bias and small tensors untouched.
        let out = try tempURL("pruned.safetensors")
        _ = try CheckpointQuantizer.convert(source, to: out, options: .init(target: .f32, pruneFraction: 0.4), device: device)
        let pruned = try Checkpoint.open(out)
        let a = try pruned.loadTensor("a.weight").scalars
        XCTAssertEqual(a.filter { $0 == 0 }.count, Int(Double(64 * 96) * 0.4))
        XCTAssertEqual(try pruned.loadTensor("a.bias").scalars, bias.scalars)
        XCTAssertEqual(try pruned.loadTensor("small").scalars, small.scalars)
        XCTAssertThrowsError(try CheckpointQuantizer.convert(source, to: out, options: .init(target: .f32, pruneFraction: 1), device: device))
    }

    // MARK: malformed files

    /// A safetensors file with the given header entries (name, dtype, shape, bytes) and metadata.
    func rawFile(_ tensors: [(String, String, [Int], [UInt8])], metadata: [String: String] = ["swiftcap.quantization": "int8"]) -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            parts.append("\"__metadata__\":{" + metadata.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",") + "}")
        }
        var offset = 0
        var data: [UInt8] = []
        for (name, dtype, shape, bytes) in tensors {
            parts.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes.count)]}")
            offset += bytes.count
            data += bytes
        }
        var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(32) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        return out + header + data
    }

    func f32(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    func open(_ bytes: [UInt8]) throws -> QuantizedCheckpoint {
        try QuantizedCheckpoint(file: SafetensorsFile(file: MappedFile(bytes: bytes, name: "bad.safetensors")))
    }

    func assertFormatError(_ bytes: [UInt8], mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let q = try open(bytes)
            for name in q.tensorNames { _ = try q.loadTensor(name) }
            XCTFail("no error (expected one mentioning '\(mentions)')", file: file, line: line)
        } catch let error as FormatError {
            XCTAssertEqual(error.file, "bad.safetensors", file: file, line: line)
            XCTAssertTrue("\(error)".contains(mentions), "\(error)", file: file, line: line)
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
    }

    /// Rank-2 F16 tensors of a quantize file come back as f16 matrices borrowed from the mapping; others do not.
    func testHalfPrecisionMatricesOfAQuantizeFile() throws {
        // binary16 1, -2, 0.5, 3, 0, 65504 (little-endian bytes).
        let h: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x00, 0x42, 0x00, 0x00, 0xFF, 0x7B]
        let q = try open(rawFile([("m", "F16", [2, 3], h), ("v", "F16", [6], h), ("f", "F32", [1, 2], f32([1, 2]))],
                                 metadata: ["swiftcap.quantization": "f16"]))
        let m = try XCTUnwrap(try q.halfPrecisionMatrix("m"))
        XCTAssertEqual(m.scheme, .f16)
        XCTAssertEqual(m.shape, [2, 3])
        XCTAssertEqual(m.dequantized(device: device).scalars, [1, -2, 0.5, 3, 0, 65504])
        XCTAssertEqual(try q.loadTensor("m").scalars, [1, -2, 0.5, 3, 0, 65504])
        XCTAssertNil(try q.halfPrecisionMatrix("v"), "rank 1")
        XCTAssertNil(try q.halfPrecisionMatrix("f"), "F32")
        XCTAssertNil(try q.quantizedMatrix("m"), "f16 is not an int8/q4 matrix")
        let lw = try Weights(q).linearWeight("m", out: 2, in: 3)
        guard case .quantized(let held) = lw, held.scheme == .f16 else { return XCTFail("expected an f16 LinearWeight, got \(lw.storageName)") }
        XCTAssertThrowsError(try Weights(q).linearWeight("m", out: 3, in: 2)) { XCTAssertTrue($0 is WeightError, "\($0)") }
    }

    func testMalformedQuantizedFilesGiveTypedErrors() throws {
        let i8 = [UInt8](repeating: 1, count: 6)
        // A valid int8 file opens (control).
        XCTAssertNoThrow(try open(rawFile([("w", "I8", [2, 3], i8), ("w.__scale", "F32", [2], f32([0.5, 1]))])).loadTensor("w"))
        assertFormatError(rawFile([("w.__scale", "F32", [2], f32([1, 1]))]), mentions: "has no quantized tensor 'w'")
        assertFormatError(rawFile([("w", "I8", [2, 3], i8), ("w.__scale", "F16", [2], [0, 60, 0, 60])]), mentions: "int8 scale must be F32")
        assertFormatError(rawFile([("w", "I8", [2, 3], i8), ("w.__scale", "F32", [3], f32([1, 1, 1]))]), mentions: "int8 scale must be F32 [2]")
        assertFormatError(rawFile([("w", "F32", [1, 2], f32([1, 1])), ("w.__scale", "F32", [1], f32([1]))]), mentions: "must be I8 (int8) or U8 (q4)")
        assertFormatError(rawFile([("w", "I8", [6], i8), ("w.__scale", "F32", [6], f32([1, 1, 1, 1, 1, 1]))]), mentions: "rank 2")
        assertFormatError(rawFile([("w", "I8", [2, 3], i8), ("w.__scale", "F32", [2], f32([1, .nan]))]), mentions: "must be finite")
        assertFormatError(rawFile([("w", "I8", [2, 3], i8), ("w.__scale", "F32", [2], f32([1, -2]))]), mentions: "must be finite and >= 0")
        let q4 = [UInt8](repeating: 0x88, count: 16)
        XCTAssertNoThrow(try open(rawFile([("w", "U8", [1, 16], q4), ("w.__scale", "F16", [1, 1], [0, 60])])).loadTensor("w"))
        assertFormatError(rawFile([("w", "U8", [1, 8], [UInt8](repeating: 0, count: 8)), ("w.__scale", "F16", [1, 1], [0, 60])]),
                          mentions: "positive multiple of 16")
        assertFormatError(rawFile([("w", "U8", [1, 16], q4), ("w.__scale", "F16", [1, 2], [0, 60, 0, 60])]), mentions: "q4 scale must be F16 [1, 1]")
        assertFormatError(rawFile([("w", "U8", [1, 16], q4), ("w.__scale", "F16", [1, 1], [0, 0x7C])]), mentions: "must be finite")
        assertFormatError(rawFile([("w", "U8", [1, 16], q4), ("w.__scale", "F16", [1, 1], [0, 60])],
                                  metadata: ["swiftcap.q4_group_size": "64"]), mentions: "group size 64")
        // Asking for a hidden scale name is a missing-tensor error, not a crash.
        let ok = try open(rawFile([("w", "I8", [2, 3], i8), ("w.__scale", "F32", [2], f32([0.5, 1]))]))
        XCTAssertThrowsError(try ok.loadTensor("w.__scale")) { XCTAssertTrue($0 is WeightError) }
        // Random corruptions of a valid q4 file: typed errors or successful reads, never a crash.
        let valid = try Array(Data(contentsOf: perfFixture("quant_q4.safetensors")))
        var rng = SplitMix64(seed: 77)
        for _ in 0..<300 {
            var bytes = valid
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(bytes.count))
                bytes[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 5 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            do {
                let q = try open(bytes)
                for name in q.tensorNames {
                    _ = try q.loadTensor(name)
                    if let m = try q.quantizedMatrix(name) {
                        _ = try device.linear(Tensor(zeros: [1, m.columns]), weight: m)
                    }
                    if let h = try q.halfPrecisionMatrix(name) {
                        _ = try device.linear(Tensor(zeros: [1, h.columns]), weight: h)
                    }
                }
            } catch is FormatError {
            } catch is WeightError {
            } catch {
                XCTFail("unexpected error type \(type(of: error)): \(error)")
            }
        }
    }
}
