import XCTest
import CKernels
@testable import SwiftCapTensor

/// int8 / q4 weight quantization, quantized linear and magnitude pruning.
final class QuantTests: XCTestCase {
    /// fp32 activations (the integer GEMM has its own tests: IntegerGEMMTests).
    let device = Device(threads: 2).withIntegerGEMM(false)

    /// [rows, cols] with rows of very different magnitudes, an all-zero row and an outlier.
    func weights(rows: Int, cols: Int, seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        var v = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows where r != 1 {
            let mag = Float(pow(10.0, Double(r % 5) - 3))
            for c in 0..<cols { v[r * cols + c] = (rng.nextFloat() - 0.5) * mag }
        }
        v[2 * cols + 3] = 40  // outlier
        return Tensor(v, shape: [rows, cols])
    }

    func testInt8RoundTripErrorWithinHalfScale() throws {
        let w = weights(rows: 9, cols: 77, seed: 1)
        let q = try QuantizedMatrix(quantizing: w, scheme: .int8, device: device)
        XCTAssertEqual(q.data.count, 9 * 77)
        XCTAssertEqual(q.scales.count, 9)
        XCTAssertEqual(q.scales[1], 0, "zero row has scale 0")
        let d = q.dequantized(device: device)
        let ws = w.scalars, ds = d.scalars
        for r in 0..<9 {
            let maxAbs = ws[(r * 77)..<((r + 1) * 77)].map(abs).max() ?? 0
            XCTAssertEqual(q.scales[r], maxAbs / 127, accuracy: maxAbs * 1e-6)
            for c in 0..<77 {
                XCTAssertLessThanOrEqual(abs(ds[r * 77 + c] - ws[r * 77 + c]), q.scales[r] / 2 * (1 + 1e-5) + 1e-12,
                                         "row \(r) col \(c)")
            }
        }
        let bytes = UnsafeRawBufferPointer(start: q.data.pointer, count: q.data.count).map { Int8(bitPattern: $0) }
        XCTAssertTrue(bytes.allSatisfy { $0 >= -127 })
        XCTAssertEqual(bytes[2 * 77 + 3], 127, "the row maximum maps to 127")
    }

    func testQ4RoundTripErrorWithinHalfScaleAndLayout() throws {
        let w = weights(rows: 6, cols: 96, seed: 2)
        let q = try QuantizedMatrix(quantizing: w, scheme: .q4, device: device)
        XCTAssertEqual(q.data.count, 6 * 48)
        XCTAssertEqual(q.scales.count, 6 * 3)
        let ws = w.scalars, ds = q.dequantized(device: device).scalars
        let raw = Array(UnsafeRawBufferPointer(start: q.data.pointer, count: q.data.count))
        for r in 0..<6 {
            for g in 0..<3 {
                let s = q.scales[r * 3 + g]
                XCTAssertEqual(sc_f16_to_f32(sc_f32_to_f16(s)), s, "scale is a binary16 value")
                let group = (0..<32).map { ws[r * 96 + g * 32 + $0] }
                let maxAbs = group.map(abs).max() ?? 0
                XCTAssertGreaterThanOrEqual(s * 7, maxAbs, "no clipping")
                if maxAbs > 1e-3 { XCTAssertLessThanOrEqual(s * 7, maxAbs * 1.001, "scale is the smallest binary16 covering the group") }
                for j in 0..<32 {
                    let i = r * 96 + g * 32 + j
                    XCTAssertLessThanOrEqual(abs(ds[i] - ws[i]), s / 2 * (1 + 1e-5) + 1e-12, "row \(r) group \(g) elt \(j)")
                    // Layout: byte j of the group holds element j (low nibble) and 16 + j (high), as q + 8.
                    let byte = raw[r * 48 + g * 16 + (j % 16)]
                    let nibble = j < 16 ? Int(byte & 15) : Int(byte >> 4)
                    let expected = s > 0 ? Int((ws[i] / s).rounded(.toNearestOrEven)) : 0
                    XCTAssertEqual(nibble - 8, expected, "row \(r) group \(g) elt \(j)")
                }
            }
        }
    }

    func testQuantizedLinearMatchesDequantizedAndStaysWithinBound() throws {
        var rng = SplitMix64(seed: 5)
        let (n, k) = (70, 128)
        let w = Tensor((0..<(n * k)).map { _ in (rng.nextFloat() - 0.5) * 0.2 }, shape: [n, k])
        let bias = Tensor((0..<n).map { _ in rng.nextFloat() - 0.5 })
        for scheme in QuantScheme.allCases {
            let q = try QuantizedMatrix(quantizing: w, scheme: scheme, device: device)
            let wd = q.dequantized(device: device)
            // 1, 3 and 2x9 rows use the fused kernel, 70 and 2x40 rows the block-dequantize + sgemm path.
            XCTAssertLessThan(Device.quantizedGEMVMaxRows, 70)
            for shape in [[1, k], [3, k], [2, 9, k], [70, k], [2, 40, k]] {
                let count = shape.reduce(1, *)
                let x = Tensor((0..<count).map { _ in rng.nextFloat() * 2 - 1 }, shape: shape)
                let yq = try device.linear(x, weight: q, bias: bias)
                XCTAssertEqual(yq.shape, Array(shape.dropLast()) + [n])
                let yd = try device.linear(x, weight: wd, bias: bias)
                XCTAssertLessThanOrEqual(try yq.maxAbsDifference(yd), 1e-4, "\(scheme) \(shape) vs dequantized weights")
                // Against the fp32 weights: |Δy[m, n]| <= Σ_k |x[m, k]| · scale(n, k) / 2.
                let yf = try device.linear(x, weight: w, bias: bias).scalars
                let xs = x.scalars, ys = yq.scalars
                for m in 0..<(count / k) {
                    for o in 0..<n {
                        var bound: Float = 0
                        for c in 0..<k {
                            switch scheme {
                            case .int8: bound += abs(xs[m * k + c]) * q.scales[o] / 2
                            case .q4: bound += abs(xs[m * k + c]) * q.scales[o * (k / 32) + c / 32] / 2
                            case .f16: bound += abs(xs[m * k + c] * w.scalars[o * k + c]) * 0x1p-11  // binary16 rounding
                            }
                        }
                        XCTAssertLessThanOrEqual(abs(ys[m * n + o] - yf[m * n + o]), bound * 1.001 + 1e-5, "\(scheme) row \(m) out \(o)")
                    }
                }
            }
            XCTAssertThrowsError(try device.linear(Tensor(zeros: [2, k + 1]), weight: q))
            XCTAssertThrowsError(try device.linear(Tensor(zeros: [2, k]), weight: q, bias: Tensor(zeros: [n + 1])))
        }
    }

    func testInvalidQuantizedMatricesAreRejected() throws {
        XCTAssertThrowsError(try QuantizedMatrix(quantizing: Tensor(zeros: [4, 40]), scheme: .q4, device: device)) { e in
            XCTAssertTrue("\(e)".contains("multiple of 32"), "\(e)")
        }
        XCTAssertThrowsError(try QuantizedMatrix(quantizing: Tensor(zeros: [4]), scheme: .int8, device: device))
        XCTAssertThrowsError(try QuantizedMatrix(scheme: .int8, rows: 2, columns: 3, data: QuantizedBytes(count: 5), scales: [1, 1]))
        XCTAssertThrowsError(try QuantizedMatrix(scheme: .int8, rows: 2, columns: 3, data: QuantizedBytes(count: 6), scales: [1]))
        XCTAssertThrowsError(try QuantizedMatrix(scheme: .int8, rows: 2, columns: 3, data: QuantizedBytes(count: 6), scales: [1, .nan]))
        XCTAssertThrowsError(try QuantizedMatrix(scheme: .q4, rows: 1, columns: 32, data: QuantizedBytes(count: 16), scales: [-1]))
        XCTAssertNoThrow(try QuantizedMatrix(scheme: .q4, rows: 1, columns: 32, data: QuantizedBytes(count: 16), scales: [0.5]))
    }

    func testPruneMagnitudeDropsTheSmallestFraction() throws {
        var rng = SplitMix64(seed: 9)
        for count in [1, 7, 1000, 4099] {
            // Many ties: values on a coarse grid, none zero.
            let v = (0..<count).map { _ in (Float(Int(rng.nextFloat() * 20)) + 1) * (rng.nextFloat() < 0.5 ? -1 : 1) }
            for fraction in [0.0, 0.2, 0.4, 0.6] {
                let p = try pruneMagnitude(Tensor(v, shape: [count]), fraction: fraction).scalars
                let drop = Int((Double(count) * fraction).rounded(.down))
                XCTAssertEqual(p.filter { $0 == 0 }.count, drop, "count \(count) fraction \(fraction)")
                let kept = zip(v, p).filter { $0.1 != 0 }
                XCTAssertTrue(kept.allSatisfy { $0.0 == $0.1 }, "kept values unchanged")
                let maxDropped = zip(v, p).filter { $0.1 == 0 }.map { abs($0.0) }.max() ?? 0
                let minKept = kept.map { abs($0.0) }.min() ?? .infinity
                XCTAssertLessThanOrEqual(maxDropped, minKept, "count \(count) fraction \(fraction)")
            }
        }
        XCTAssertThrowsError(try pruneMagnitude(Tensor([1, 2]), fraction: 1))
        XCTAssertThrowsError(try pruneMagnitude(Tensor([1, 2]), fraction: -0.1))
    }

    func testFloat16BitsRoundToNearestEven() {
        let bits = float16Bits(Tensor([1, -2, 65504, 65520, 1e-8, 0.1, 3e-8, Float.infinity]))
        XCTAssertEqual(bits, [0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x0000, 0x2E66, 0x0001, 0x7C00])
    }
}
