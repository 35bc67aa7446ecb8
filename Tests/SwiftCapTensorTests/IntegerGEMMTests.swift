import XCTest
import CKernels
@testable import SwiftCapTensor

/// The int8 x int8 GEMM (`Device.integerGEMM`, `sc_qgemm_u8s8`): vector and portable loops agree bit for
/// bit, and every output stays within the activation-rounding bound of the exact product of the
/// dequantized weights (computed in double), for both weight layouts, odd sizes and accumulation.
final class IntegerGEMMTests: XCTestCase {
    let device = Device(threads: 2)

    func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale }
    }

    /// Runs one case; returns the largest error relative to its bound.
    func check(m: Int, n: Int, k: Int, inOut: Bool, accumulate: Bool, seed: UInt64) throws -> Double {
        var xs = random(m * k, seed: seed)
        if m > 2 { for c in 0..<k { xs[1 * k + c] = 0 } }          // an all-zero row
        if m > 3 { xs[2 * k] = 25 }                                // an outlier in one row
        let wShape = inOut ? [k, n] : [n, k]
        let w = try QuantizedMatrix(quantizing: Tensor(random(n * k, seed: seed + 1, scale: 0.3), shape: wShape),
                                    scheme: .int8, device: device)
        let wd = w.dequantized(device: device).scalars                // [n, k] or [k, n]
        let q = UnsafeRawBufferPointer(start: w.data.pointer, count: w.data.count).map { Double(Int8(bitPattern: $0)) }
        let bias = random(m * n, seed: seed + 2)
        var outputs: [[Float]] = []
        for portable in [false, true] {
            var y = accumulate ? bias : [Float](repeating: -7, count: m * n)
            try xs.withUnsafeBufferPointer { px in
                try y.withUnsafeMutableBufferPointer { py in
                    try device.integerGEMM(px.baseAddress!, rows: m, weight: w, inOut: inOut, into: py.baseAddress!,
                                           accumulate: accumulate, portable: portable)
                }
            }
            outputs.append(y)
        }
        XCTAssertEqual(outputs[0], outputs[1], "vector and portable kernels differ (m \(m) n \(n) k \(k) inOut \(inOut))")
        var worst = 0.0
        for r in 0..<m {
            // Row scale of what gets quantized: x (out-in) or x * s_k (in-out).
            let a = (0..<k).map { c in Double(xs[r * k + c]) * (inOut ? Double(w.scales[c]) : 1) }
            let step = (a.map(abs).max() ?? 0) / 127
            for j in 0..<n {
                var exact = 0.0, bound = 0.0
                for c in 0..<k {
                    let wv = Double(inOut ? wd[c * n + j] : wd[j * k + c])
                    exact += Double(xs[r * k + c]) * wv
                    // |rounding of a_c| <= step / 2, times the integer weight (times its row scale for out-in).
                    bound += step / 2 * (inOut ? abs(q[c * n + j]) : abs(wv))
                }
                if accumulate { exact += Double(bias[r * n + j]) }
                let err = abs(Double(outputs[0][r * n + j]) - exact)
                let allowed = bound * 1.0001 + 1e-5 * (abs(exact) + 1)
                XCTAssertLessThanOrEqual(err, allowed, "row \(r) col \(j) (m \(m) n \(n) k \(k) inOut \(inOut))")
                worst = max(worst, bound > 0 ? err / bound : 0)
                if r == 1 && m > 2 { XCTAssertEqual(Double(outputs[0][r * n + j]), accumulate ? Double(bias[r * n + j]) : 0, accuracy: 1e-6) }
            }
        }
        return worst
    }

    func testIntegerGEMMWithinActivationRoundingBound() throws {
        var seed: UInt64 = 10
        for (m, n, k) in [(1, 1, 1), (3, 31, 5), (8, 32, 64), (9, 33, 67), (5, 67, 197), (15, 129, 257), (16, 70, 130), (17, 33, 131), (37, 64, 96), (21, 100, 4)] {
            for inOut in [false, true] {
                for accumulate in [false, true] {
                    seed += 3
                    _ = try check(m: m, n: n, k: k, inOut: inOut, accumulate: accumulate, seed: seed)
                }
            }
        }
    }

    func testLinearUsesItAndMatchesDenseClosely() throws {
        // Device.linear on int8 weights, decode-sized and prompt-sized inputs: close to the dense layer on the
        // dequantized weights (relative to the output scale), bias added once.
        for m in [3, Device.integerGEMMMinRows + 5] {
        let n = 96, k = 128
        let x = Tensor(random(m * k, seed: 3), shape: [m, k])
        let wf = Tensor(random(n * k, seed: 4, scale: 0.2), shape: [n, k])
        let w = try QuantizedMatrix(quantizing: wf, scheme: .int8, device: device)
        let bias = Tensor(random(n, seed: 5), shape: [n])
        let got = try device.linear(x, weight: w, bias: bias)
        let want = try device.linear(x, weight: w.dequantized(device: device), bias: bias)
        let scale = want.scalars.map(abs).max() ?? 1
        XCTAssertLessThan(try got.maxAbsDifference(want) / scale, 0.02)
        if QuantKernel.hasIntegerGEMM {
            XCTAssertGreaterThan(try got.maxAbsDifference(want), 0, "expected the integer path (activation rounding), \(m) rows")
        }
        }
        XCTAssertEqual(QuantKernel.hasIntegerGEMM, sc_qgemm_has_vnni() != 0)
    }

    func testNonFiniteRowGivesNaNNotGarbage() throws {
        let k = 8, n = 4
        var xs = random(2 * k, seed: 9)
        xs[3] = .infinity
        let w = try QuantizedMatrix(quantizing: Tensor(random(n * k, seed: 8), shape: [n, k]), scheme: .int8, device: device)
        var y = [Float](repeating: 0, count: 2 * n)
        try xs.withUnsafeBufferPointer { px in
            try y.withUnsafeMutableBufferPointer { py in
                try device.integerGEMM(px.baseAddress!, rows: 2, weight: w, inOut: false, into: py.baseAddress!, accumulate: false, portable: false)
            }
        }
        XCTAssertTrue(y[0..<n].allSatisfy(\.isNaN), "row with inf: \(y[0..<n])")
        XCTAssertTrue(y[n...].allSatisfy(\.isFinite))
    }
}
