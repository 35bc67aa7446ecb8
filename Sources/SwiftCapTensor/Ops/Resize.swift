import Foundation

/// How an output pixel index maps back to an input coordinate (ONNX Resize `coordinate_transformation_mode`).
/// `s` is the scale out/in of one axis.
public enum ResizeCoordinates: Sendable, Equatable {
    /// `(x + 0.5) / s - 0.5` (ONNX half_pixel; PyTorch `align_corners=False`)
    case halfPixel
    /// as halfPixel, but 0 when the output axis has length 1 (ONNX pytorch_half_pixel)
    case pytorchHalfPixel
    /// `x * (in - 1) / (out - 1)` (PyTorch `align_corners=True`)
    case alignCorners
    /// `x / s` (PyTorch `mode="nearest"`)
    case asymmetric
}

/// How a fractional coordinate picks a pixel in nearest mode (ONNX `nearest_mode`).
public enum NearestRounding: Sendable, Equatable {
    case roundPreferFloor, roundPreferCeil, floor, ceil
}

/// Interpolation of `Device.resize`.
public enum ResizeMode: Sendable, Equatable {
    case nearest(NearestRounding)
    /// Bilinear over the two spatial axes.
    case linear
}

extension Device {
    /// Resizes the two spatial axes of x: [batch, channels, height, width] -> [batch, channels, outH, outW]
    /// as ONNX Resize does. `scales` (out/in per axis) are the ones the coordinate transform uses;
    /// when nil they are outH/height and outW/width.
    public func resize(_ x: Tensor, height outH: Int, width outW: Int, mode: ResizeMode,
                       coordinates: ResizeCoordinates, scales: (h: Float, w: Float)? = nil) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError.invalidArgument(op: "resize", "needs x [N,C,H,W], got \(x.shape)") }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard outH >= 1, outW >= 1, h >= 1, w >= 1, outH <= 1 << 16, outW <= 1 << 16 else {
            throw TensorError.invalidArgument(op: "resize", "\(x.shape) to \(outH)x\(outW)")
        }
        if let scales, !(scales.h > 0 && scales.w > 0 && scales.h.isFinite && scales.w.isFinite) {
            throw TensorError.invalidArgument(op: "resize", "scales \(scales) must be positive")
        }
        let inv = (h: scales.map { 1 / $0.h } ?? Float(h) / Float(outH), w: scales.map { 1 / $0.w } ?? Float(w) / Float(outW))
        func source(_ i: Int, _ inLen: Int, _ outLen: Int, _ invScale: Float) -> Float {
            switch coordinates {
            case .halfPixel: return (Float(i) + 0.5) * invScale - 0.5
            case .pytorchHalfPixel: return outLen > 1 ? (Float(i) + 0.5) * invScale - 0.5 : 0
            case .alignCorners: return outLen > 1 ? Float(i) * Float(inLen - 1) / Float(outLen - 1) : 0
            case .asymmetric: return Float(i) * invScale
            }
        }
        // Per-axis tables: two source indices and the weight of the second.
        func table(_ inLen: Int, _ outLen: Int, _ invScale: Float) -> (i0: [Int], i1: [Int], t: [Float]) {
            var i0 = [Int](repeating: 0, count: outLen), i1 = i0, t = [Float](repeating: 0, count: outLen)
            for o in 0..<outLen {
                let s = source(o, inLen, outLen, invScale)
                switch mode {
                case .nearest(let rounding):
                    var k: Float
                    switch rounding {
                    case .floor: k = s.rounded(.down)
                    case .ceil: k = s.rounded(.up)
                    case .roundPreferFloor: k = (s - s.rounded(.down) == 0.5) ? s.rounded(.down) : s.rounded()
                    case .roundPreferCeil: k = (s - s.rounded(.down) == 0.5) ? s.rounded(.up) : s.rounded()
                    }
                    let idx = Swift.min(Swift.max(Int(k), 0), inLen - 1)
                    i0[o] = idx; i1[o] = idx
                case .linear:
                    let sc = Swift.min(Swift.max(s, 0), Float(inLen - 1))
                    let lo = Int(sc.rounded(.down))
                    i0[o] = lo; i1[o] = Swift.min(lo + 1, inLen - 1); t[o] = sc - Float(lo)
                }
            }
            return (i0, i1, t)
        }
        let th = table(h, outH, inv.h), tw = table(w, outW, inv.w)
        let xc = x.contiguous()
        let out = Tensor(zeros: [n, c, outH, outW])
        let src = xc.contiguousPointer, dst = out.contiguousPointer
        let linear = mode == .linear
        th.i0.withUnsafeBufferPointer { hi0 in th.i1.withUnsafeBufferPointer { hi1 in th.t.withUnsafeBufferPointer { ht in
        tw.i0.withUnsafeBufferPointer { wi0 in tw.i1.withUnsafeBufferPointer { wi1 in tw.t.withUnsafeBufferPointer { wt in
            parallelFor(n * c, costPerItem: outH * outW * (linear ? 4 : 1)) { p0, p1 in
                for p in p0..<p1 {
                    let plane = src + p * h * w, o = dst + p * outH * outW
                    for i in 0..<outH {
                        let r0 = plane + hi0[i] * w, orow = o + i * outW
                        if !linear {
                            for j in 0..<outW { orow[j] = r0[wi0[j]] }
                            continue
                        }
                        let r1 = plane + hi1[i] * w, a = ht[i]
                        for j in 0..<outW {
                            let b = wt[j], j0 = wi0[j], j1 = wi1[j]
                            let top = r0[j0] + (r0[j1] - r0[j0]) * b
                            let bottom = r1[j0] + (r1[j1] - r1[j0]) * b
                            orow[j] = top + (bottom - top) * a
                        }
                    }
                }
            }
        }}}}}}
        _ = xc.storage
        return out
    }

    /// PyTorch `F.interpolate(x, size, mode="nearest")`: source index `floor(i * in / out)`.
    public func resizeNearest(_ x: Tensor, height: Int, width: Int) throws -> Tensor {
        try resize(x, height: height, width: width, mode: .nearest(.floor), coordinates: .asymmetric)
    }

    /// PyTorch `F.interpolate(x, size, mode="bilinear", align_corners=…)`.
    public func resizeBilinear(_ x: Tensor, height: Int, width: Int, alignCorners: Bool = false) throws -> Tensor {
        try resize(x, height: height, width: width, mode: .linear, coordinates: alignCorners ? .alignCorners : .halfPixel)
    }
}
