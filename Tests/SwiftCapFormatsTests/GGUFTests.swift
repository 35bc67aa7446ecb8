import Foundation
import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
@testable import SwiftCapFormats

final class GGUFTests: XCTestCase {
    /// The value of `v` in the shape gguf-py's `contents()` gives (nested arrays as lists).
    private func plain(_ v: GGUFValue) -> Any {
        switch v {
        case .string(let s): return s
        case .bool(let b): return b
        case .float32(let f): return Double(f)
        case .float64(let d): return d
        case .array(_, let a): return a.map { plain($0) }
        default: return v.intValue ?? (v.description as Any)
        }
    }

    private func flatten(_ v: Any) -> Any {
        guard let a = v as? [Any] else { return v }
        return a.flatMap { x -> [Any] in
            let f = flatten(x)
            return (f as? [Any]) ?? [f]
        }
    }

    private func typeList(_ v: GGUFValue) -> [String] {
        if case .array(_, let a) = v {
            return ["ARRAY"] + (a.first.map { typeList($0) } ?? [GGUFValue.typeName(code: 0)])
        }
        return [v.typeName]
    }

    private func sameJSON(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? [Any], let y = b as? [Any] { return x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1) } }
        if let x = a as? Double, let y = b as? Double { return x == y || abs(x - y) <= 1e-12 * max(1, abs(y)) }
        if let x = a as? Double, let y = b as? Int { return x == Double(y) }
        if let x = a as? Int, let y = b as? Double { return Double(x) == y }
        if let x = a as? Int, let y = b as? Int { return x == y }
        if let x = a as? Bool, let y = b as? Bool { return x == y }
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? UInt64, let y = b as? Int { return y >= 0 && x == UInt64(y) }
        return false
    }

    func testTinyFileMatchesGGUFPy() throws {
        let g = try GGUFFile(url: fixture("tiny.gguf"))
        let e = try loadExpected("tiny.gguf.expected.json")
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.alignment, e["alignment"] as? Int)
        XCTAssertEqual(g.dataStart % 64, 0)
        XCTAssertEqual(g.architecture, "tinyarch")
        let meta = try XCTUnwrap(e["metadata"] as? [String: [String: Any]])
        XCTAssertEqual(Set(g.metadata.map(\.key)), Set(meta.keys))
        for (k, em) in meta {
            let v = try XCTUnwrap(g.value(k), k)
            XCTAssertEqual(typeList(v), em["types"] as? [String], k)
            // gguf-py gives u64 values above Int.max as Python ints the JSON parser may read as Double
            if case .uint64(let u) = v {
                XCTAssertEqual(u, (em["value"] as? NSNumber)?.uint64Value, k)
            } else {
                // gguf-py's contents() flattens nested arrays
                XCTAssertTrue(sameJSON(flatten(plain(v)), em["value"] as Any), "\(k): \(plain(v)) vs \(em["value"] ?? "nil")")
            }
        }
        if case .array(let t, let outer)? = g.value("t.arr_nested") {
            XCTAssertEqual(t, 9)
            XCTAssertEqual(outer.map { $0.arrayValue?.compactMap(\.intValue) ?? [] }, [[1, 2], [3]])
        } else {
            XCTFail("t.arr_nested is not an array of arrays")
        }
        let tensors = try XCTUnwrap(e["tensors"] as? [[String: Any]])
        let unsupported = try XCTUnwrap(e["unsupported"] as? [String: Any])
        let unsupportedName = try XCTUnwrap(unsupported["name"] as? String)
        XCTAssertEqual(g.tensorNames, tensors.map { $0["name"] as? String ?? "" } + [unsupportedName])
        XCTAssertEqual(g.tensorInfo(unsupportedName), TensorInfo(dtype: "IQ2_XXS", shape: ints(unsupported["shape"])))
        XCTAssertThrowsError(try g.loadTensor(unsupportedName)) {
            XCTAssertEqual($0 as? WeightError, .unsupportedDType(name: unsupportedName, dtype: "IQ2_XXS", source: g.sourceDescription))
        }
        var seenTypes = Set<String>()
        for et in tensors {
            let name = try XCTUnwrap(et["name"] as? String)
            let info = try XCTUnwrap(g.tensorInfo(name))
            XCTAssertEqual(info.dtype, et["type"] as? String, name)
            XCTAssertEqual(info.shape, ints(et["shape"]), name)
            seenTypes.insert(info.dtype)
            let t = try g.loadTensor(name)
            XCTAssertEqual(t.shape, info.shape, name)
            // gguf-py dequantizes in fp32 numpy with the same formulas: bit-exact
            assertClose(t.scalars, floats(et["values"]), tolerance: 0, name)
        }
        XCTAssertEqual(seenTypes, ["F32", "F16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K", "IQ4_NL", "IQ4_XS"])
        XCTAssertTrue(try g.loadTensor("f32").storage.owner === g.file, "aligned F32 is zero-copy")
        // raw block access dequantizes row by row to the same values
        let raw = try g.rawData("rand_q4_k")
        XCTAssertEqual(raw.type, .q4_K)
        XCTAssertEqual(raw.bytes.count, 2 * 2 * 144)
        var row = [Float](repeating: 0, count: 512)
        row.withUnsafeMutableBufferPointer { GGMLDequant.dequantize(.q4_K, blocks: 2, src: raw.bytes.baseAddress! + 288, dst: $0.baseAddress!) }
        XCTAssertEqual(row, try g.loadTensor("rand_q4_k").row(1).scalars)
    }

    func testVersion2Header() throws {
        var bytes = [UInt8](try Data(contentsOf: fixture("tiny.gguf")))
        bytes[4] = 2
        let g = try GGUFFile(file: MappedFile(bytes: bytes, name: "v2.gguf"))
        XCTAssertEqual(g.version, 2)
        XCTAssertEqual(g.tensorNames.count, 16)
        bytes[4] = 1
        XCTAssertThrowsError(try GGUFFile(file: MappedFile(bytes: bytes, name: "v1.gguf"))) {
            XCTAssertTrue("\($0)".contains("GGUF version 1") && "\($0)".contains("v1.gguf"), "\($0)")
        }
    }

    func testMalformedHeaders() throws {
        let good = [UInt8](try Data(contentsOf: fixture("tiny.gguf")))
        func expectError(_ bytes: [UInt8], _ needle: String, line: UInt = #line) {
            XCTAssertThrowsError(try GGUFFile(file: MappedFile(bytes: bytes, name: "m.gguf")), line: line) {
                XCTAssertTrue($0 is FormatError && "\($0)".contains(needle) && "\($0)".contains("m.gguf"), "\($0)", line: line)
            }
        }
        expectError([], "magic")
        expectError(Array("GGUX".utf8) + good.dropFirst(4), "bad magic")
        expectError(Array(good.prefix(400)), "truncated")
        var huge = good
        for i in 8..<16 { huge[i] = 0xff }  // tensor count
        expectError(huge, "cannot fit")
        // first key's length made enormous
        var longKey = good
        longKey[24 + 7] = 0x40
        expectError(longKey, "runs past the end")
        // first value type made unknown: key is "general.architecture" (20 bytes) at 32
        var badType = good
        badType[24 + 8 + 20] = 99
        expectError(badType, "unknown value type 99")
    }

    func testSmolLM2Q4_1IfPresent() throws {
        let url = AssetPaths.fromEnvironment(repositoryRoot: repositoryRoot).asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("SmolLM2 GGUF not found at \(url.path); run scripts/fetch-assets.sh")
        }
        let g = try GGUFFile(url: url)
        let e = try loadExpected("smollm2.gguf.expected.json")
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.architecture, "llama")
        XCTAssertEqual(g.value("llama.block_count")?.intValue, 30)
        XCTAssertEqual(g.value("llama.embedding_length")?.intValue, 576)
        XCTAssertEqual(g.value("tokenizer.ggml.tokens")?.arrayValue?.count, 49152)
        let meta = try XCTUnwrap(e["metadata"] as? [String: [String: Any]])
        XCTAssertEqual(Set(g.metadata.map(\.key)), Set(meta.keys))
        for (k, em) in meta {
            let v = try XCTUnwrap(g.value(k), k)
            XCTAssertEqual(typeList(v), em["types"] as? [String], k)
            if let a = v.arrayValue {
                XCTAssertEqual(a.count, em["count"] as? Int, k)
                XCTAssertTrue(sameJSON(a.prefix(5).map { plain($0) }, em["first"] as Any), k)
            } else {
                XCTAssertTrue(sameJSON(plain(v), em["value"] as Any), "\(k): \(plain(v)) vs \(em["value"] ?? "nil")")
            }
        }
        let tensors = try XCTUnwrap(e["tensors"] as? [[String: Any]])
        XCTAssertEqual(g.tensorNames, tensors.map { $0["name"] as? String ?? "" })
        for et in tensors {
            let name = try XCTUnwrap(et["name"] as? String)
            let entry = try XCTUnwrap(g.entry(name))
            XCTAssertEqual(GGMLType.name(code: entry.typeCode), et["type"] as? String, name)
            XCTAssertEqual(entry.shape, ints(et["shape"]), name)
            XCTAssertEqual(g.dataStart + entry.offset, et["offset"] as? Int, name)
            guard let first = et["first"] else { continue }
            let t = try g.loadTensor(name)
            var sum = 0.0, absSum = 0.0
            let (head, tail) = t.withUnsafeBufferPointer { buf -> ([Float], [Float]) in
                for v in buf { sum += Double(v); absSum += Double(abs(v)) }
                return (Array(buf.prefix(8)), Array(buf.suffix(4)))
            }
            // gguf-py and this reader dequantize with the same fp32 formulas: bit-exact
            assertClose(head, floats(first), tolerance: 0, name)
            assertClose(tail, floats(et["last"]), tolerance: 0, name)
            XCTAssertEqual(sum, et["sum"] as? Double ?? .nan, accuracy: 1e-6 * (et["abs_sum"] as? Double ?? 1), name)
            XCTAssertEqual(absSum, et["abs_sum"] as? Double ?? .nan, accuracy: 1e-6 * absSum, name)
        }
    }
}
