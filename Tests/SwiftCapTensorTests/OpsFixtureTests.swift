import XCTest
import Foundation
@testable import SwiftCapTensor

/// Compares every op against PyTorch's output recorded by fixtures/gen/ops.py (fixtures/ops/ops.json).
final class OpsFixtureTests: XCTestCase {
    struct FixtureTensor: Decodable {
        let shape: [Int]
        let data: [Float]
        var tensor: Tensor { Tensor(data, shape: shape) }
    }

    struct Params: Decodable {
        var factor: Float?
        var value: Float?
        var alpha: Float?
        var beta: Float?
        var eps: Float?
        var ids: [Int]?
        var idShape: [Int]?
        var dim: Int?
        var sizes: [Int]?
        var piece: Int?
        var causal: Bool?
        var scale: Float?
        var queries: Int?
        var past: Int?
    }

    struct Case: Decodable {
        let op: String
        let name: String
        let inputs: [String: FixtureTensor]
        let params: Params
        let expected: FixtureTensor
    }

    struct Fixture: Decodable { let cases: [Case] }

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func loadCases() throws -> [Case] {
        let url = Self.repositoryRoot.appendingPathComponent("fixtures/ops/ops.json")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(Fixture.self, from: Data(contentsOf: url)).cases
    }

    /// Runs the op a case names on the case's inputs.
    func run(_ c: Case, device: Device, vectorized v: Bool) throws -> Tensor {
        func input(_ name: String) throws -> Tensor {
            guard let t = c.inputs[name] else { throw TensorError.invalidArgument(op: "fixture", "case \(c.name) lacks input \(name)") }
            return t.tensor
        }
        let p = c.params
        switch c.op {
        case "add": return try device.add(input("a"), input("b"))
        case "sub": return try device.sub(input("a"), input("b"))
        case "mul": return try device.mul(input("a"), input("b"))
        case "div": return try device.div(input("a"), input("b"))
        case "scale": return device.scale(try input("x"), by: p.factor ?? .nan)
        case "addScalar": return device.add(try input("x"), scalar: p.value ?? .nan)
        case "gelu": return device.gelu(try input("x"), vectorized: v)
        case "geluTanh": return device.geluTanh(try input("x"), vectorized: v)
        case "quickGELU": return device.quickGELU(try input("x"), vectorized: v)
        case "silu": return device.silu(try input("x"), vectorized: v)
        case "relu": return device.relu(try input("x"))
        case "relu6": return device.relu6(try input("x"))
        case "hardSwish": return device.hardSwish(try input("x"))
        case "hardSigmoid":
            if p.alpha == Float(1.0 / 6.0) && p.beta == 0.5 { return device.hardSigmoid(try input("x")) }
            return device.hardSigmoid(try input("x"), alpha: p.alpha ?? .nan, beta: p.beta ?? .nan)
        case "sigmoid": return device.sigmoid(try input("x"), vectorized: v)
        case "layerNorm":
            return try device.layerNorm(input("x"), weight: c.inputs["weight"]?.tensor, bias: c.inputs["bias"]?.tensor, eps: p.eps ?? .nan, vectorized: v)
        case "rmsNorm":
            return try device.rmsNorm(input("x"), weight: c.inputs["weight"]?.tensor, eps: p.eps ?? .nan, vectorized: v)
        case "softmax": return try device.softmax(input("x"), vectorized: v)
        case "logSoftmax": return try device.logSoftmax(input("x"))
        case "embedding": return try device.embedding(p.ids ?? [], table: input("table"), shape: p.idShape)
        case "concat":
            let names = ["a", "b", "c"].filter { c.inputs[$0] != nil }
            return try device.concat(names.map { try input($0) }, dim: p.dim ?? 0)
        case "split":
            return try device.split(input("x"), sizes: p.sizes ?? [], dim: p.dim ?? 0)[p.piece ?? 0]
        case "attention":
            var mask: Tensor? = nil
            if let keep = c.inputs["keep"] { mask = try device.paddingMask(keep: keep.tensor) }
            if let m = c.inputs["mask"] { mask = m.tensor }
            return try device.scaledDotProductAttention(query: input("q"), key: input("k"), value: input("v"),
                                                        mask: mask, causal: p.causal ?? false, scale: p.scale, vectorized: v)
        case "causalMask": return try device.causalMask(queries: p.queries ?? 0, past: p.past ?? 0)
        default: throw TensorError.invalidArgument(op: "fixture", "unknown op \(c.op)")
        }
    }

    func testEveryOpMatchesPyTorch() throws {
        let cases = try loadCases()
        XCTAssertGreaterThanOrEqual(cases.count, 60)
        var seen = Set<String>()
        // Both kernel forms (scalar: debug default; 8-lane: release default), 1 and 3 threads.
        for (threads, vectorized) in [(1, false), (3, false), (1, true), (3, true)] {
            let device = Device(threads: threads)
            for c in cases {
                let got = try run(c, device: device, vectorized: vectorized)
                XCTAssertEqual(got.shape, c.expected.shape, "\(c.op) \(c.name)")
                guard got.shape == c.expected.shape else { continue }
                let a = got.scalars, e = c.expected.data
                // 1e-5 absolute; for values beyond ±42 (only large log-softmax outputs here) the
                // float spacing itself exceeds 1e-5/2, so the bound is two units in the last place.
                var worst: Float = 0
                for i in 0..<a.count {
                    if e[i].isInfinite || e[i].isNaN {
                        XCTAssertTrue(a[i] == e[i] || (a[i].isNaN && e[i].isNaN), "\(c.op) \(c.name) [\(i)]: \(a[i]) vs \(e[i])")
                    } else {
                        let tolerance = max(1e-5, 2 * e[i].magnitude.ulp)
                        worst = max(worst, abs(a[i] - e[i]) * 1e-5 / tolerance)
                    }
                }
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(c.op) \(c.name) (vectorized \(vectorized)): max error \(worst) (scaled to a 1e-5 bound)")
                seen.insert(c.op)
            }
        }
        XCTAssertEqual(seen.count, 24, "ops covered: \(seen.sorted())")
    }
}
