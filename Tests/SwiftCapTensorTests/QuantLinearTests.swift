import XCTest
import CKernels
@testable import SwiftCapTensor

/// The fused quantized kernels (AVX-512 and portable) and the block-dequantize + sgemm path, against a
/// float64 product with the dequantized weights.
final class QuantLinearTests: XCTestCase {
    /// Fused and block paths with fp32 activations (the integer GEMM has its own tests: IntegerGEMMTests).
    let device = Device(threads: 2).withIntegerGEMM(false)

    func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in (rng.nextFloat() * 2 - 1) * scale }, shape: shape)
    }

    /// y[m, n] = Σ_k x[m, k] · w[n, k] + bias[n] in Float64, and Σ_k |x[m, k] · w[n, k]| (the scale of the rounding error).
    func reference(x: Tensor, wOutIn: Tensor, bias: Tensor?) -> (y: [Double], mag: [Double]) {
        let n = wOutIn.shape[0], k = wOutIn.shape[1], rows = x.count / k
        let xs = x.scalars, ws = wOutIn.scalars, bs = bias?.scalars
        var y = [Double](repeating: 0, count: rows * n), mag = y
        for m in 0..<rows {
            for o in 0..<n {
                var s = Double(bs?[o] ?? 0), a = abs(s)
                for c in 0..<k {
                    let p = Double(xs[m * k + c]) * Double(ws[o * k + c])
                    s += p
                    a += abs(p)
                }
                y[m * n + o] = s
                mag[m * n + o] = a
            }
        }
        return (y, mag)
    }

    func check(_ y: Tensor, _ ref: (y: [Double], mag: [Double]), _ what: String) {
        let ys = y.scalars
        XCTAssertEqual(ys.count, ref.y.count, what)
        var worst = 0.0
        for i in 0..<min(ys.count, ref.y.count) {
            let err = abs(Double(ys[i]) - ref.y[i]) / (ref.mag[i] + 1e-6)
            worst = max(worst, err)
        }
        // fp32 accumulation of ≤ 200 terms: relative to Σ|x·w| the error stays far below 1e-5.
        XCTAssertLessThan(worst, 1e-5, what)
    }

    /// Both layouts, every scheme, both kernels, row counts around the vector blocks and the fused/sgemm switch,
    /// shapes with tails (K not a multiple of 16, N not a multiple of 4 or 64).
    func testFusedAndBlockPathsMatchTheDequantizedProduct() throws {
        let rowCounts = [1, 2, 3, 4, 5, 7, 16, 40, Device.quantizedGEMVMaxRows, Device.quantizedGEMVMaxRows + 1, 90]
        for scheme in QuantScheme.allCases {
            // [out, in] layout (nn.Linear): N = 70 (tail of 2 after blocks of 4); K = 100 (int8/f16, tail of 4) or 96 (q4).
            let kNK = scheme == .q4 ? 96 : 100
            let wNK = random([70, kNK], seed: 1, scale: 0.1)
            let qNK = try QuantizedMatrix(quantizing: wNK, scheme: scheme, device: device)
            let dNK = qNK.dequantized(device: device)
            // [in, out] layout (Conv1D): K = 50 inputs, N = 150 (int8/f16) or 160 (q4) outputs: 2 vector blocks of 64 + a tail.
            let nKN = scheme == .q4 ? 160 : 150
            let wKN = random([50, nKN], seed: 2, scale: 0.1)
            let qKN = try QuantizedMatrix(quantizing: wKN, scheme: scheme, device: device)
            let dKN = try qKN.dequantized(device: device).transposed().contiguous()
            for rows in rowCounts {
                for withBias in [false, true] {
                    let bNK = withBias ? random([70], seed: 3) : nil, bKN = withBias ? random([nKN], seed: 4) : nil
                    let xNK = random([rows, kNK], seed: UInt64(10 + rows)), xKN = random([rows, 50], seed: UInt64(60 + rows))
                    let rNK = reference(x: xNK, wOutIn: dNK, bias: bNK), rKN = reference(x: xKN, wOutIn: dKN, bias: bKN)
                    for kernel in QuantKernel.allCases {
                        let tag = "\(scheme) \(kernel) rows \(rows) bias \(withBias)"
                        check(try device.linear(xNK, weight: qNK, bias: bNK, kernel: kernel), rNK, "[out, in] " + tag)
                        check(try device.linear(xKN, weightInOut: qKN, bias: bKN, kernel: kernel), rKN, "[in, out] " + tag)
                    }
                }
            }
        }
    }

    /// Each output element is computed the same way whatever the thread split: 1 and 3 threads agree bit for bit.
    func testThreadSplitDoesNotChangeResults() throws {
        for scheme in QuantScheme.allCases {
            let w = random([256, 768], seed: 7, scale: 0.05)
            let q = try QuantizedMatrix(quantizing: w, scheme: scheme, device: device)
            let x = random([3, 768], seed: 8), xt = random([3, 256], seed: 9)
            let one = Device(threads: 1), three = Device(threads: 3)
            XCTAssertEqual(try one.linear(x, weight: q).scalars, try three.linear(x, weight: q).scalars, "\(scheme) [out, in]")
            XCTAssertEqual(try one.linear(xt, weightInOut: q).scalars, try three.linear(xt, weightInOut: q).scalars, "\(scheme) [in, out]")
        }
    }

    func testVectorAndPortableKernelsAgree() throws {
        if !QuantKernel.hasVectorKernels { print("note: no AVX-512 kernels compiled in; .best runs the portable loops") }
        for scheme in QuantScheme.allCases {
            let q = try QuantizedMatrix(quantizing: random([192, 640], seed: 11, scale: 0.05), scheme: scheme, device: device)
            for rows in [1, 4, 6] {
                let x = random([rows, 640], seed: 12), xt = random([rows, 192], seed: 13)
                let a = try device.linear(x, weight: q, kernel: .best), b = try device.linear(x, weight: q, kernel: .portable)
                XCTAssertLessThan(try a.maxAbsDifference(b), 1e-4, "\(scheme) rows \(rows) [out, in]")
                let c = try device.linear(xt, weightInOut: q, kernel: .best), d = try device.linear(xt, weightInOut: q, kernel: .portable)
                XCTAssertLessThan(try c.maxAbsDifference(d), 1e-4, "\(scheme) rows \(rows) [in, out]")
            }
        }
    }

    func testLinearWeightDispatchAndShapes() throws {
        let w = random([96, 64], seed: 20, scale: 0.1)  // [out, in]
        let q = try QuantizedMatrix(quantizing: w, scheme: .int8, device: device)
        let qt = try QuantizedMatrix(quantizing: w.transposed().contiguous(), scheme: .q4, device: device)  // [in, out] = [64, 96]
        let x = random([2, 5, 64], seed: 21)
        for lw in [LinearWeight.dense(w), .quantized(q), .quantizedInOut(qt)] {
            XCTAssertEqual(lw.inFeatures, 64)
            XCTAssertEqual(lw.outFeatures, 96)
            let y = try device.linear(x, weight: lw)
            XCTAssertEqual(y.shape, [2, 5, 96])
            let yd = try device.linear(x, weight: lw.denseOutIn(device: device))
            XCTAssertLessThan(try y.maxAbsDifference(yd), 1e-4, lw.storageName)
            XCTAssertThrowsError(try device.linear(random([1, 65], seed: 1), weight: lw))
            XCTAssertThrowsError(try device.linear(x, weight: lw, bias: Tensor(zeros: [95])))
        }
        XCTAssertEqual(LinearWeight.quantized(q).memoryBytes, 96 * 64 + 96 * 4)
        XCTAssertEqual(LinearWeight.quantizedInOut(qt).memoryBytes, 64 * 48 + 64 * 3 * 4)
        XCTAssertEqual(LinearWeight.dense(w).memoryBytes, 96 * 64 * 4)
    }

    func testEmbeddingFromAQuantizedTable() throws {
        let table = random([40, 64], seed: 30, scale: 0.3)
        for scheme in QuantScheme.allCases {
            let q = try QuantizedMatrix(quantizing: table, scheme: scheme, device: device)
            let dense = q.dequantized(device: device)
            let ids = [3, 0, 39, 3, 17, 8]
            let e = try device.embedding(ids, table: .quantized(q), shape: [2, 3])
            XCTAssertEqual(e.shape, [2, 3, 64])
            XCTAssertEqual(e.scalars, try device.embedding(ids, table: dense, shape: [2, 3]).scalars, "\(scheme)")
            XCTAssertThrowsError(try device.embedding([40], table: .quantized(q))) { e in
                XCTAssertEqual(e as? IndexError, .outOfRange(op: "embedding", index: 40, count: 40))
            }
            XCTAssertThrowsError(try device.embedding([1, 2], table: .quantized(q), shape: [3]))
            XCTAssertThrowsError(try device.embedding([1], table: .quantizedInOut(q)))
        }
    }

    /// f16 holds binary16 values exactly: dequantized = round-to-nearest-even of each weight, 2 bytes per weight, no scales.
    func testHalfPrecisionMatrixHoldsBinary16Values() throws {
        let w = random([5, 40], seed: 40, scale: 3)
        let h = try QuantizedMatrix(quantizing: w, scheme: .f16, device: device)
        XCTAssertEqual(h.data.count, 5 * 40 * 2)
        XCTAssertTrue(h.scales.isEmpty)
        let d = h.dequantized(device: device).scalars
        let bits = float16Bits(w)
        for i in 0..<d.count {
            XCTAssertEqual(d[i], sc_f16_to_f32(bits[i]))
            XCTAssertLessThanOrEqual(abs(d[i] - w.scalars[i]), abs(w.scalars[i]) * 0x1p-11)
        }
        XCTAssertEqual(LinearWeight.quantized(h).memoryBytes, 5 * 40 * 2)
    }
}
