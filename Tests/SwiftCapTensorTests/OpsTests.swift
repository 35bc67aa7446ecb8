import XCTest
import Foundation
@testable import SwiftCapTensor

/// Behaviour the fixtures do not cover: errors, strided inputs, threading, the KV cache.
final class OpsTests: XCTestCase {
    let device = Device(threads: 2)

    func testBroadcastErrorsAndStridedInputs() throws {
        XCTAssertThrowsError(try device.add(Tensor(zeros: [2, 3]), Tensor(zeros: [4]))) { error in
            XCTAssertEqual(error as? TensorError, .shapeMismatch(op: "add", "cannot broadcast [2, 3] with [4]"))
        }
        let a = Tensor((0..<6).map(Float.init), shape: [2, 3])
        let at = try a.transposed()  // [3, 2], strided
        let sum = try device.add(at, Tensor([10, 20]))
        XCTAssertEqual(sum.scalars, [10, 23, 11, 24, 12, 25])
        // A large broadcast split over several threads agrees with a single-threaded run.
        var rng = SplitMix64(seed: 3)
        let x = Tensor((0..<(64 * 1031)).map { _ in rng.nextFloat() }, shape: [64, 1031])
        let bias = Tensor((0..<1031).map { _ in rng.nextFloat() }, shape: [1031])
        let y4 = try Device(threads: 4).mul(x, bias), y1 = try Device(threads: 1).mul(x, bias)
        XCTAssertEqual(y4.scalars, y1.scalars)
        XCTAssertEqual(y1[63, 1030], x[63, 1030] * bias[1030])
    }

    func testActivationByConfigName() {
        XCTAssertEqual(Activation(configName: "gelu_new"), .geluTanh)
        XCTAssertEqual(Activation(configName: "quick_gelu"), .quickGELU)
        XCTAssertEqual(Activation(configName: "hardsigmoid"), .hardSigmoidPyTorch)
        XCTAssertNil(Activation(configName: "mish?"))
        let x = Tensor([-4, -1, 0, 2, 7])
        XCTAssertEqual(device.activation(x, .relu6).scalars, [0, 0, 0, 2, 6])
        XCTAssertEqual(device.activation(x, .hardSigmoidPyTorch).scalars, device.hardSigmoid(x).scalars)
    }

    func testNormAndEmbeddingErrors() throws {
        XCTAssertThrowsError(try device.layerNorm(Tensor(zeros: [2, 4]), weight: Tensor(zeros: [3]), bias: nil))
        XCTAssertThrowsError(try device.embedding([0, 5], table: Tensor(zeros: [5, 2]))) { error in
            XCTAssertEqual(error as? IndexError, .outOfRange(op: "embedding", index: 5, count: 5))
        }
        XCTAssertThrowsError(try device.embedding([-1], table: Tensor(zeros: [5, 2])))
        XCTAssertThrowsError(try device.split(Tensor(zeros: [4, 3]), sizes: [1, 2], dim: 0))
        XCTAssertThrowsError(try device.concat([Tensor(zeros: [2, 3]), Tensor(zeros: [3, 3])], dim: 1))
        XCTAssertThrowsError(try device.concat([], dim: 0))
        let softmaxed = try device.softmax(Tensor([-.infinity, -.infinity], shape: [1, 2]))
        XCTAssertEqual(softmaxed.scalars, [0, 0], "a fully masked row gives zeros, not NaN")
    }

    func testSplitConcatRoundTripAndStack() throws {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        let parts = try device.split(x, parts: 2, dim: -1)
        XCTAssertEqual(parts.map(\.shape), [[2, 3, 2], [2, 3, 2]])
        XCTAssertEqual(try device.concat(parts, dim: 2).scalars, x.scalars)
        let s = try device.stack([Tensor([1, 2]), Tensor([3, 4])], dim: 1)
        XCTAssertEqual(s.shape, [2, 2])
        XCTAssertEqual(s.scalars, [1, 3, 2, 4])
    }

    func testMasks() throws {
        let m = try device.paddingMask(lengths: [2, 3], keys: 3)
        XCTAssertEqual(m.shape, [2, 1, 1, 3])
        XCTAssertEqual(m.scalars, [0, 0, -.infinity, 0, 0, 0])
        let l = try device.paddingMask(lengths: [1], keys: 3, leftPadded: true)
        XCTAssertEqual(l.scalars, [-.infinity, -.infinity, 0])
        XCTAssertThrowsError(try device.paddingMask(lengths: [4], keys: 3))
    }

    func testHeadsRoundTrip() throws {
        let x = Tensor((0..<(2 * 5 * 12)).map(Float.init), shape: [2, 5, 12])
        let h = try device.splitHeads(x, heads: 3)
        XCTAssertEqual(h.shape, [2, 3, 5, 4])
        XCTAssertEqual(h[1, 2, 4, 3], x[1, 4, 11])
        XCTAssertEqual(try device.mergeHeads(h).scalars, x.scalars)
        XCTAssertThrowsError(try device.splitHeads(x, heads: 5))
    }

    /// Decoding token by token through the KV cache gives the same outputs as one causal pass.
    func testKVCacheIncrementalDecodingMatchesFullCausalPass() throws {
        var rng = SplitMix64(seed: 11)
        func random(_ shape: [Int]) -> Tensor { Tensor((0..<shape.reduce(1, *)).map { _ in rng.nextFloat() * 2 - 1 }, shape: shape) }
        let (b, h, s, d) = (2, 3, 21, 8)
        let q = random([b, h, s, d]), k = random([b, h, s, d]), v = random([b, h, s, d])
        let full = try device.scaledDotProductAttention(query: q, key: k, value: v, causal: true)
        var cache = KVCache(layers: 2)
        // a prefix of 4 at once, then one position at a time
        var steps: [Tensor] = []
        var pos = 0
        for len in [4] + Array(repeating: 1, count: s - 4) {
            let kv = try cache.append(layer: 1, keys: k.narrowed(dim: 2, start: pos, length: len),
                                      values: v.narrowed(dim: 2, start: pos, length: len))
            XCTAssertEqual(kv.keys.shape, [b, h, pos + len, d])
            XCTAssertNil(kv.rows)
            steps.append(try device.scaledDotProductAttention(query: q.narrowed(dim: 2, start: pos, length: len),
                                                               cached: kv, causal: true))
            pos += len
        }
        XCTAssertEqual(cache.length(layer: 1), s)
        XCTAssertEqual(cache.length(layer: 0), 0)
        let incremental = try device.concat(steps, dim: 2)
        XCTAssertLessThanOrEqual(try incremental.maxAbsDifference(full), 1e-6)
        XCTAssertThrowsError(try cache.append(layer: 2, keys: k, values: v))
        XCTAssertThrowsError(try cache.append(layer: 1, keys: random([b, h, 1, d + 1]), values: random([b, h, 1, d + 1])))
    }

    func testKVCacheIsAValueAndReorders() throws {
        let k = Tensor((0..<8).map(Float.init), shape: [2, 1, 2, 2])
        var a = KVCache(layers: 1)
        try a.append(layer: 0, keys: k, values: k)
        var b = a
        try b.append(layer: 0, keys: Tensor(repeating: 9, shape: [2, 1, 1, 2]), values: Tensor(repeating: 9, shape: [2, 1, 1, 2]))
        XCTAssertEqual(a.length, 2)
        XCTAssertEqual(b.length, 3)
        XCTAssertEqual(a.keys(layer: 0)?.scalars, k.scalars, "appending to a copy leaves the original alone")
        try b.reorder(batch: [1, 1, 0], device: device)
        XCTAssertEqual(b.keys(layer: 0)?.shape, [3, 1, 3, 2])
        XCTAssertEqual(b.keys(layer: 0)?.scalars, [4, 5, 6, 7, 9, 9, 4, 5, 6, 7, 9, 9, 0, 1, 2, 3, 9, 9])
        XCTAssertThrowsError(try b.reorder(batch: [3], device: device))
    }

    /// Beam reorders move index lists, not keys: after random reorders (repeats, drops, a fan-out that needs
    /// new buffers) and appends of 1 and 9 positions, attention through the cache (both the few-query and the
    /// two-GEMM many-query paths) equals attention over explicitly copied per-row histories, and
    /// `keys(layer:)` returns those histories.
    func testReorderedCacheEqualsCopiedHistories() throws {
        var rng = SplitMix64(seed: 5)
        func random(_ shape: [Int]) -> Tensor { Tensor((0..<shape.reduce(1, *)).map { _ in rng.nextFloat() * 2 - 1 }, shape: shape) }
        let (h, d) = (2, 8)
        var cache = KVCache(layers: 1)
        // Reference: each batch row's keys/values as [h, t, d] tensors, copied on every reorder.
        var histK: [Tensor] = [], histV: [Tensor] = []
        var batch = 1
        var sawRowMap = false
        for (step, len) in [3, 1, 1, 9, 1, 1, 1, 9, 1].enumerated() {
            if step > 0 {
                // A reorder: the first one fans 1 row out to 3, later ones repeat, permute or drop rows.
                let newBatch = step == 1 ? 3 : (step == 6 ? 2 : (step == 7 ? 3 : batch))
                let idx = (0..<newBatch).map { _ in Int(rng.next() % UInt64(batch)) }
                try cache.reorder(batch: idx, device: device)
                histK = idx.map { histK[$0] }
                histV = idx.map { histV[$0] }
                batch = newBatch
            }
            let k = random([batch, h, len, d]), v = random([batch, h, len, d]), q = random([batch, h, len, d])
            let kv = try cache.append(layer: 0, keys: k, values: v)
            sawRowMap = sawRowMap || kv.rows != nil
            for r in 0..<batch {
                let kr = try k.narrowed(dim: 0, start: r, length: 1).reshaped([h, len, d])
                let vr = try v.narrowed(dim: 0, start: r, length: 1).reshaped([h, len, d])
                if histK.indices.contains(r) {
                    histK[r] = try device.concat([histK[r], kr], dim: 1)
                    histV[r] = try device.concat([histV[r], vr], dim: 1)
                } else {
                    histK.append(kr)
                    histV.append(vr)
                }
            }
            let refK = try device.concat(histK.map { try $0.reshaped([1] + $0.shape) }, dim: 0)
            let refV = try device.concat(histV.map { try $0.reshaped([1] + $0.shape) }, dim: 0)
            let expected = try device.scaledDotProductAttention(query: q, key: refK, value: refV, causal: true)
            let got = try device.scaledDotProductAttention(query: q, cached: kv, causal: true)
            XCTAssertLessThanOrEqual(try got.maxAbsDifference(expected), 1e-6, "step \(step) (\(len) new positions)")
            XCTAssertEqual(cache.keys(layer: 0)?.scalars, refK.scalars, "step \(step)")
            XCTAssertEqual(cache.values(layer: 0)?.scalars, refV.scalars, "step \(step)")
        }
        XCTAssertTrue(sawRowMap, "the reorders were followed by index lists, not copies")
        XCTAssertThrowsError(try device.scaledDotProductAttention(query: random([2, h, 1, d]), key: random([3, h, 4, d]),
                                                                  value: random([3, h, 4, d]), keyRows: [[0, 1, 2, 3], [0, 1, 2, 3]]),
                             "a key row outside the tensors is refused")
    }

    /// The 8-lane exp and erf against double-precision libm over their whole useful range.
    func testVectorMathAccuracy() {
        var worstExp = 0.0, worstErf = 0.0
        var x: Float = -87
        while x < 88.5 {
            var v = SIMD8<Float>()
            for l in 0..<8 { v[l] = x + Float(l) * 0.0137 }
            let e = vexp(v), r = verf(v * 0.05)
            for l in 0..<8 {
                let exact = Foundation.exp(Double(v[l]))
                worstExp = max(worstExp, abs(Double(e[l]) - exact) / exact)
                worstErf = max(worstErf, abs(Double(r[l]) - Foundation.erf(Double(v[l] * 0.05))))
            }
            x += 0.11
        }
        XCTAssertLessThan(worstExp, 3e-7, "vexp relative error")
        XCTAssertLessThan(worstErf, 5e-7, "verf absolute error")
        let extremes = vexp(SIMD8<Float>(-.infinity, -200, -88, 0, 1, 88.7, 200, .infinity))
        XCTAssertLessThan(extremes[0], 1e-37)
        XCTAssertLessThan(extremes[1], 1e-37)
        XCTAssertEqual(extremes[3], 1)
        XCTAssertEqual(extremes[4], Float(M_E), accuracy: 1e-6)
        XCTAssertTrue(extremes[5].isFinite && extremes[5] > 3e38)
    }

    /// log-sum-exp of a row, scalar and 8-lane forms, against double precision (the beam search's
    /// log-softmax uses it), including tails, −∞ entries and empty rows.
    func testLogSumExpRow() {
        var rng = SplitMix64(seed: 7)
        for n in [1, 7, 8, 9, 31, 6162] {
            var row = (0..<n).map { _ in rng.nextFloat() * 40 - 20 }
            if n > 3 { row[2] = -.infinity }
            let exact = Foundation.log(row.reduce(0.0) { $0 + Foundation.exp(Double($1)) })
            for vec in [false, true] {
                let got = row.withUnsafeBufferPointer { logSumExpRow($0.baseAddress!, n, vectorized: vec) }
                XCTAssertEqual(Double(got), exact, accuracy: 1e-5 * max(1, abs(exact)), "n \(n) vectorized \(vec)")
            }
        }
        let ninf = [Float](repeating: -.infinity, count: 9)
        XCTAssertEqual(ninf.withUnsafeBufferPointer { logSumExpRow($0.baseAddress!, 9, vectorized: true) }, -.infinity)
        XCTAssertEqual(ninf.withUnsafeBufferPointer { logSumExpRow($0.baseAddress!, 0, vectorized: false) }, -.infinity)
    }

    /// The weight-streaming path `linear` takes for few rows agrees with GEMM.
    func testSmallRowLinearMatchesGEMM() throws {
        var rng = SplitMix64(seed: 21)
        func random(_ shape: [Int]) -> Tensor { Tensor((0..<shape.reduce(1, *)).map { _ in rng.nextFloat() * 2 - 1 }, shape: shape) }
        for (rows, inF, outF) in [(1, 37, 13), (3, 64, 40), (4, 100, 7), (2, 8, 1), (1, 5, 300)] {
            let x = random([rows, 1, inF]), w = random([outF, inF]), b = random([outF])
            for bias in [nil, b] {
                let fast = try device.linear(x, weight: w, bias: bias, smallRowKernel: true)
                let gemm = try device.linear(x, weight: w, bias: bias, smallRowKernel: false)
                XCTAssertEqual(fast.shape, [rows, 1, outF])
                XCTAssertLessThanOrEqual(try fast.maxAbsDifference(gemm), 1e-5, "rows \(rows) in \(inF) out \(outF)")
            }
        }
        // Rows beyond the limit take GEMM either way; a strided input is handled.
        let x = try random([6, 9]).transposed()
        let w = random([5, 6])
        XCTAssertLessThanOrEqual(try device.linear(x, weight: w, bias: nil, smallRowKernel: true)
            .maxAbsDifference(device.linear(x, weight: w, bias: nil, smallRowKernel: false)), 1e-5)
    }
}
