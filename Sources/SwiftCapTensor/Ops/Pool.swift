import CKernels

/// Pooling over NCHW tensors (PyTorch `F.max_pool2d` / `F.avg_pool2d`, ONNX MaxPool / AveragePool /
/// GlobalAveragePool).
extension Device {
    /// Max pooling. Padded positions never win (they count as -infinity).
    /// - x: [batch, channels, height, width]; kernel, stride, dilation: [rows, cols]
    /// - returns: [batch, channels, outH, outW], sizes from `slidingWindowOutputSize` (ceil mode as PyTorch/ONNX)
    public func maxPool2d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: Padding2D = .zero,
                          dilation: [Int] = [1, 1], ceilMode: Bool = false) throws -> Tensor {
        try pool2d(x, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: dilation,
                   ceilMode: ceilMode, op: "maxPool2d", max: true, countIncludePad: false)
    }

    /// Average pooling. With `countIncludePad` the divisor counts padding cells inside the padded
    /// input (PyTorch's default; ONNX's `count_include_pad=1`), else only the real cells. A window
    /// that ceil mode lets run past the padding is cut at the padded edge, as PyTorch does.
    /// - x: [batch, channels, height, width]; kernel, stride: [rows, cols]
    public func avgPool2d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: Padding2D = .zero,
                          ceilMode: Bool = false, countIncludePad: Bool = true) throws -> Tensor {
        try pool2d(x, kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: [1, 1],
                   ceilMode: ceilMode, op: "avgPool2d", max: false, countIncludePad: countIncludePad)
    }

    /// Mean over the spatial dimensions: [batch, channels, height, width] -> [batch, channels, 1, 1].
    public func globalAveragePool(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[2] * x.shape[3] > 0 else {
            throw TensorError.invalidArgument(op: "globalAveragePool", "needs a non-empty [N,C,H,W], got \(x.shape)")
        }
        let xc = x.contiguous()
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        let out = Tensor(zeros: [x.shape[0], x.shape[1], 1, 1])
        let src = xc.contiguousPointer, dst = out.contiguousPointer
        parallelFor(planes, costPerItem: hw) { p0, p1 in
            sc_plane_mean(src, Int32(hw), dst, Int32(p0), Int32(p1))
        }
        _ = xc.storage
        return out
    }

    private func pool2d(_ x: Tensor, kernel: [Int], stride: [Int], padding: Padding2D, dilation: [Int],
                        ceilMode: Bool, op: String, max isMax: Bool, countIncludePad: Bool) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError.invalidArgument(op: op, "needs x [N,C,H,W], got \(x.shape)") }
        guard kernel.count == 2, stride.count == 2, dilation.count == 2,
              (kernel + stride + dilation).allSatisfy({ (1...maxWindowParameter).contains($0) }) else {
            throw TensorError.invalidArgument(op: op, "kernel \(kernel), stride \(stride), dilation \(dilation) must be two positive values each")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, sh, sw, dh, dw) = (kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1])
        let p = padding.resolve(inH: h, inW: w, kernelH: (kh - 1) * dh + 1, kernelW: (kw - 1) * dw + 1, strideH: sh, strideW: sw)
        let ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1
        guard p.top >= 0, p.left >= 0, p.bottom >= 0, p.right >= 0,
              p.top < ekh, p.bottom < ekh, p.left < ekw, p.right < ekw else {
            throw TensorError.invalidArgument(op: op, "padding \(padding) must be at least 0 and smaller than the kernel \(kernel)")
        }
        let oh = slidingWindowOutputSize(h, kernel: kh, stride: sh, padBegin: p.top, padEnd: p.bottom, dilation: dh, ceilMode: ceilMode)
        let ow = slidingWindowOutputSize(w, kernel: kw, stride: sw, padBegin: p.left, padEnd: p.right, dilation: dw, ceilMode: ceilMode)
        guard oh > 0, ow > 0 else {
            throw TensorError.invalidArgument(op: op, "kernel \(kernel) larger than padded input \(x.shape)")
        }
        let xc = x.contiguous()
        let out = Tensor(zeros: [n, c, oh, ow])
        let src = xc.contiguousPointer, dst = out.contiguousPointer
        let padH = h + p.bottom, padW = w + p.right
        if isMax {
            parallelFor(n * c, costPerItem: oh * ow * kh * kw) { p0, p1 in
                sc_maxpool(src, Int32(h), Int32(w), dst, Int32(oh), Int32(ow), Int32(kh), Int32(kw), Int32(sh), Int32(sw),
                           Int32(p.top), Int32(p.left), Int32(dh), Int32(dw), Int32(p0), Int32(p1))
            }
            _ = xc.storage
            return out
        }
        parallelFor(n * c, costPerItem: oh * ow * kh * kw) { p0, p1 in
            for plane in p0..<p1 {
                let xin = src + plane * h * w, yout = dst + plane * oh * ow
                for i in 0..<oh {
                    let hs = i * sh - p.top
                    for j in 0..<ow {
                        let ws = j * sw - p.left
                        if isMax {
                            var m = -Float.infinity
                            for a in 0..<kh {
                                let r = hs + a * dh
                                if r < 0 || r >= h { continue }
                                for b in 0..<kw {
                                    let q = ws + b * dw
                                    if q < 0 || q >= w { continue }
                                    let v = xin[r * w + q]
                                    if v > m || v.isNaN { m = v }
                                }
                            }
                            yout[i * ow + j] = m
                        } else {
                            // PyTorch: window end clipped to the padded extent, then to the input.
                            let he = Swift.min(hs + kh, padH), we = Swift.min(ws + kw, padW)
                            let padded = (he - hs) * (we - ws)
                            let r0 = Swift.max(hs, 0), r1 = Swift.min(he, h), q0 = Swift.max(ws, 0), q1 = Swift.min(we, w)
                            var s: Float = 0
                            if r1 > r0 && q1 > q0 {
                                for r in r0..<r1 { for q in q0..<q1 { s += xin[r * w + q] } }
                            }
                            let real = Swift.max(0, r1 - r0) * Swift.max(0, q1 - q0)
                            let divisor = countIncludePad ? padded : real
                            yout[i * ow + j] = divisor > 0 ? s / Float(divisor) : 0
                        }
                    }
                }
            }
        }
        _ = xc.storage
        return out
    }
}

extension Device {
    /// Mean over each sequence's first `lengths[b]` positions (sentence-transformers' mean pooling
    /// under a right-padded attention mask; a length of 0 gives zeros, as its clamp of the count to
    /// 1e-9 does). x: [batch, seq, dim] -> [batch, dim].
    public func maskedMean(_ x: Tensor, lengths: [Int]) throws -> Tensor {
        guard x.rank == 3 else {
            throw TensorError.invalidArgument(op: "maskedMean", "needs [batch, seq, dim], got \(x.shape)")
        }
        let b = x.shape[0], seq = x.shape[1], dim = x.shape[2]
        guard lengths.count == b else {
            throw TensorError.shapeMismatch(op: "maskedMean", "\(lengths.count) lengths for batch \(b)")
        }
        for (i, n) in lengths.enumerated() where n < 0 || n > seq {
            throw TensorError.invalidArgument(op: "maskedMean", "length \(n) of batch item \(i) is outside 0...\(seq)")
        }
        let xc = x.contiguous()
        let out = Tensor(zeros: [b, dim])
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        parallelFor(b, costPerItem: seq * dim) { start, end in
            for i in start..<end where lengths[i] > 0 {
                let d = dst + i * dim
                for t in 0..<lengths[i] {
                    let s = src + (i * seq + t) * dim
                    for j in 0..<dim { d[j] += s[j] }
                }
                let n = Float(lengths[i])
                for j in 0..<dim { d[j] /= n }
            }
        }
        withExtendedLifetime(xc.storage) {}
        return out
    }
}
