import XCTest
import CKernels
@testable import SwiftCapTensor

/// The register-blocked depthwise, max-pool and 1×1 kernels against plain Swift loops on shapes
/// wider than the fixture cases (wide rows take a different code path than small planes).
final class ConvKernelTests: XCTestCase {
    /// Deterministic values in [-1, 1).
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(s % 20000) / 10000 - 1
        }
    }

    /// Direct definition of a grouped conv: x [1, C, H, W], w [O, C/g, kh, kw] -> [1, O, OH, OW].
    func naiveConv(x: [Float], c: Int, h: Int, w: Int, weight: [Float], o: Int, kh: Int, kw: Int, bias: [Float]?,
                   stride: Int, pad: (Int, Int, Int, Int), dilation: Int = 1, groups: Int, relu: Bool) -> ([Float], Int, Int) {
        let oh = (h + pad.0 + pad.2 - ((kh - 1) * dilation + 1)) / stride + 1
        let ow = (w + pad.1 + pad.3 - ((kw - 1) * dilation + 1)) / stride + 1
        let cg = c / groups, og = o / groups
        var y = [Float](repeating: 0, count: o * oh * ow)
        for oc in 0..<o {
            let g = oc / og
            for i in 0..<oh {
                for j in 0..<ow {
                    var s: Double = 0
                    for ci in 0..<cg {
                        for a in 0..<kh {
                            let r = i * stride + a * dilation - pad.0
                            guard r >= 0, r < h else { continue }
                            for b in 0..<kw {
                                let q = j * stride + b * dilation - pad.1
                                guard q >= 0, q < w else { continue }
                                s += Double(weight[((oc * cg + ci) * kh + a) * kw + b]) * Double(x[((g * cg + ci) * h + r) * w + q])
                            }
                        }
                    }
                    var v = Float(s) + (bias?[oc] ?? 0)
                    if relu { v = max(v, 0) }
                    y[(oc * oh + i) * ow + j] = v
                }
            }
        }
        return (y, oh, ow)
    }

    func check(c: Int, h: Int, w: Int, o: Int? = nil, kh: Int, kw: Int, stride: Int, pad: (Int, Int, Int, Int),
               dilation: Int = 1, groups: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let o = o ?? c
        let x = values(c * h * w, seed: UInt64(c * 131 + h * 7 + w))
        let wt = values(o * (c / groups) * kh * kw, seed: UInt64(kh * 17 + kw + stride))
        let bias = values(o, seed: 99)
        let (ref, oh, ow) = naiveConv(x: x, c: c, h: h, w: w, weight: wt, o: o, kh: kh, kw: kw, bias: bias, stride: stride,
                                      pad: pad, dilation: dilation, groups: groups, relu: true)
        // OpenBLAS devices run sc_conv_gemm for the GEMMs; the reference backend keeps the BLAS route.
        for device in [Device(threads: 1), Device(threads: 2), Device(threads: 2, gemm: ReferenceGEMM())] {
            let threads = device.threads
            let y = try device.conv2d(Tensor(x, shape: [1, c, h, w]), weight: Tensor(wt, shape: [o, c / groups, kh, kw]),
                                                        bias: Tensor(bias, shape: [o]), stride: [stride, stride],
                                                        padding: .explicit(top: pad.0, left: pad.1, bottom: pad.2, right: pad.3),
                                                        dilation: [dilation, dilation], groups: groups, activation: .relu)
            XCTAssertEqual(y.shape, [1, o, oh, ow], file: file, line: line)
            let err = zip(y.scalars, ref).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(err, 2e-5, "conv \(c)x\(h)x\(w) k\(kh)x\(kw) s\(stride) g\(groups), threads \(threads)", file: file, line: line)
        }
    }

    func testDepthwiseWideAndSmallPlanes() throws {
        // wide rows (computed straight into the output, 16-wide blocks plus a tail)
        try check(c: 5, h: 23, w: 83, kh: 3, kw: 3, stride: 1, pad: (1, 1, 1, 1), groups: 5)
        try check(c: 5, h: 21, w: 90, kh: 3, kw: 3, stride: 2, pad: (1, 1, 1, 1), groups: 5)
        try check(c: 4, h: 19, w: 77, kh: 5, kw: 5, stride: 2, pad: (2, 2, 2, 2), groups: 4)
        try check(c: 4, h: 17, w: 70, kh: 5, kw: 5, stride: 1, pad: (2, 2, 2, 2), groups: 4)
        // TF "same" style asymmetric padding, odd sizes
        try check(c: 3, h: 29, w: 67, kh: 5, kw: 5, stride: 2, pad: (1, 1, 2, 2), groups: 3)
        // small planes (flattened path)
        try check(c: 6, h: 7, w: 7, kh: 3, kw: 3, stride: 1, pad: (1, 1, 1, 1), groups: 6)
        try check(c: 6, h: 13, w: 13, kh: 5, kw: 5, stride: 2, pad: (2, 2, 2, 2), groups: 6)
        try check(c: 3, h: 20, w: 30, kh: 3, kw: 3, stride: 2, pad: (0, 0, 1, 1), groups: 3)
        // no padding, dilation (reference loop)
        try check(c: 3, h: 16, w: 40, kh: 3, kw: 3, stride: 1, pad: (0, 0, 0, 0), groups: 3)
        try check(c: 3, h: 16, w: 40, kh: 3, kw: 3, stride: 1, pad: (2, 2, 2, 2), dilation: 2, groups: 3)
    }

    func testPointwiseShapes() throws {
        // K below and above the small-K limit; output columns not a multiple of the block width.
        try check(c: 16, h: 7, w: 7, o: 24, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        try check(c: 40, h: 13, w: 13, o: 37, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        try check(c: 96, h: 9, w: 11, o: 50, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        try check(c: 72, h: 20, w: 26, o: 12, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        try check(c: 48, h: 6, w: 6, o: 32, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 2)
        // few columns, many rows: split over 8-row tiles on 2 threads (70 = 8*8 + 4 + 1 + 1)
        try check(c: 64, h: 7, w: 7, o: 70, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        // long K with a 1- and a 3-column tail (dot-product tail path), K not a multiple of 16
        try check(c: 200, h: 7, w: 7, o: 12, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        try check(c: 333, h: 5, w: 7, o: 9, kh: 1, kw: 1, stride: 1, pad: (0, 0, 0, 0), groups: 1)
        // im2col convolutions through the same kernel
        try check(c: 8, h: 20, w: 37, o: 20, kh: 3, kw: 3, stride: 2, pad: (1, 1, 1, 1), groups: 1)
        try check(c: 12, h: 15, w: 15, o: 18, kh: 3, kw: 3, stride: 1, pad: (1, 1, 1, 1), groups: 3)
    }

    /// The conv GEMM's short-column-tail path (a zero-padded panel) freed nothing: PicoDet leaked about
    /// 260 KB per photo. Heap bytes in use (glibc mallinfo2) must not grow over many calls.
    func testConvTailPathDoesNotLeak() throws {
        try XCTSkipIf(sc_heap_bytes_in_use() == 0, "no glibc heap statistics here")
        let device = Device(threads: 1)
        // 13×13 = 169 output columns = 5 strips of 32 + a 9-column tail with a short K (16): the panel path.
        let x = Tensor(values(16 * 13 * 13, seed: 3), shape: [1, 16, 13, 13])
        let w = Tensor(values(32 * 16, seed: 4), shape: [32, 16, 1, 1])
        func run(_ n: Int) throws { for _ in 0..<n { _ = try device.conv2d(x, weight: w, bias: nil, stride: [1, 1], padding: .symmetric(0)) } }
        try run(20)  // warm-up: pools, caches
        let before = sc_heap_bytes_in_use()
        try run(400)
        let grown = Int(sc_heap_bytes_in_use()) - Int(before)
        XCTAssertLessThan(grown, 64 * 1024, "heap grew by \(grown) bytes over 400 convolutions")
    }

    func testMaxPoolWideRows() throws {
        let (c, h, w) = (3, 21, 75)
        let x = values(c * h * w, seed: 5)
        for (k, s, p, ceil) in [(3, 2, 1, false), (3, 2, 0, true), (2, 1, 0, false), (3, 1, 1, false)] {
            let y = try Device(threads: 2).maxPool2d(Tensor(x, shape: [1, c, h, w]), kernel: [k, k], stride: [s, s],
                                                     padding: .symmetric(p), dilation: [1, 1], ceilMode: ceil)
            let oh = y.shape[2], ow = y.shape[3]
            XCTAssertEqual(oh, slidingWindowOutputSize(h, kernel: k, stride: s, padBegin: p, padEnd: p, ceilMode: ceil))
            var ref = [Float](repeating: 0, count: c * oh * ow)
            for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
                var m = -Float.infinity
                for a in 0..<k { for b in 0..<k {
                    let r = i * s + a - p, q = j * s + b - p
                    if r >= 0, r < h, q >= 0, q < w { m = max(m, x[(ch * h + r) * w + q]) }
                } }
                ref[(ch * oh + i) * ow + j] = m
            } } }
            XCTAssertEqual(y.scalars, ref, "max \(k)x\(k) s\(s) p\(p) ceil \(ceil)")
        }
        // NaN in a window propagates
        var xn = x
        xn[10 * w + 20] = .nan
        let yn = try Device(threads: 1).maxPool2d(Tensor(xn, shape: [1, c, h, w]), kernel: [3, 3], stride: [2, 2],
                                                  padding: .symmetric(1), dilation: [1, 1], ceilMode: false)
        XCTAssertTrue(yn.scalars[5 * yn.shape[3] + 10].isNaN)
        XCTAssertFalse(yn.scalars[0].isNaN)
    }

    /// `contiguousRuns()` gives exactly `contiguous()` for a channel shuffle, a channel slice, a
    /// layout with no unit-stride dimension and an already contiguous tensor.
    func testContiguousRunsMatchesContiguous() throws {
        let x = Tensor(values(2 * 6 * 5 * 7, seed: 3), shape: [1, 2, 6, 5, 7])
        let views = [
            try x.permuted([0, 2, 1, 3, 4]),
            try x.narrowed(dim: 2, start: 2, length: 3),
            try x.permuted([0, 1, 2, 4, 3]),
            try x.permuted([4, 3, 2, 1, 0]),
            try x.reshaped([2, 6, 35]).narrowed(dim: 1, start: 1, length: 4).permuted([1, 0, 2]),
            x,
        ]
        for v in views {
            let a = v.contiguousRuns(), b = v.contiguous()
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertTrue(a.isContiguous)
            XCTAssertEqual(a.scalars, b.scalars, "\(v.shape) strides \(v.strides)")
        }
    }
}
