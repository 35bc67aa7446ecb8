import CKernels

/// Zero padding around the spatial dimensions of a convolution or pooling window.
public enum Padding2D: Sendable, Equatable {
    /// Fixed padding per side (ONNX `pads` = [top, left, bottom, right]; PyTorch `padding=(ph, pw)` is symmetric).
    case explicit(top: Int, left: Int, bottom: Int, right: Int)
    /// TensorFlow "SAME": output size `ceil(in / stride)`, total padding split with the odd pixel
    /// at the bottom/right (as TF and efficientnet's `Conv2dStaticSamePadding` do).
    case same

    /// The same padding on every side.
    public static func symmetric(_ p: Int) -> Padding2D { .explicit(top: p, left: p, bottom: p, right: p) }
    /// `ph` rows top and bottom, `pw` columns left and right.
    public static func symmetric(_ ph: Int, _ pw: Int) -> Padding2D { .explicit(top: ph, left: pw, bottom: ph, right: pw) }
    /// No padding.
    public static let zero = Padding2D.explicit(top: 0, left: 0, bottom: 0, right: 0)

    /// Concrete (top, left, bottom, right) for an input of `inH`×`inW` and a window of `kernel`
    /// (already dilated: `(k - 1) * dilation + 1`) moved by `stride`.
    public func resolve(inH: Int, inW: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int)
        -> (top: Int, left: Int, bottom: Int, right: Int) {
        switch self {
        case .explicit(let t, let l, let b, let r):
            return (t, l, b, r)
        case .same:
            func split(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
                let out = (n + s - 1) / s
                let total = max(0, (out - 1) * s + k - n)
                return (total / 2, total - total / 2)
            }
            let (t, b) = split(inH, kernelH, strideH), (l, r) = split(inW, kernelW, strideW)
            return (t, l, b, r)
        }
    }
}

/// An activation fused into a convolution's epilogue (applied after the bias, while the
/// output is still in cache). The standalone activation ops live in Activations.swift.
public enum ConvActivation: Sendable, Equatable {
    case none, relu, relu6
    /// `x * clip(x + 3, 0, 6) / 6`
    case hardSwish
    /// `clip(alpha * x + beta, 0, 1)` (ONNX defaults alpha 0.2, beta 0.5; PyTorch uses 1/6, 0.5)
    case hardSigmoid(alpha: Float, beta: Float)
    case sigmoid

    var code: (Int32, Float, Float) {
        switch self {
        case .none: return (Int32(SC_ACT_NONE), 0, 0)
        case .relu: return (Int32(SC_ACT_RELU), 0, 0)
        case .relu6: return (Int32(SC_ACT_RELU6), 0, 0)
        case .hardSwish: return (Int32(SC_ACT_HARDSWISH), 0, 0)
        case .hardSigmoid(let a, let b): return (Int32(SC_ACT_HARDSIGMOID), a, b)
        case .sigmoid: return (Int32(SC_ACT_SIGMOID), 0, 0)
        }
    }
}

/// Largest kernel side, stride, dilation or padding the window ops accept (a guard against corrupt
/// model files asking for absurd sizes).
public let maxWindowParameter = 1 << 14

/// Output length of a sliding window: `floor((n + padBegin + padEnd - dilatedKernel) / stride) + 1`,
/// or with `ceilMode` the ceiling, dropping a last window that would start inside the end padding
/// (PyTorch's and ONNX's rule).
public func slidingWindowOutputSize(_ n: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int,
                                    dilation: Int = 1, ceilMode: Bool = false) -> Int {
    let eff = (kernel - 1) * dilation + 1
    let span = n + padBegin + padEnd - eff
    if span < 0 { return 0 }
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if ceilMode && (out - 1) * stride >= n + padBegin { out -= 1 }
    return out
}

/// Convolution over NCHW tensors.
extension Device {
    /// 2-D convolution as PyTorch's `F.conv2d` / ONNX `Conv`, with an optional fused activation.
    ///
    /// - x: [batch, inChannels, height, width]
    /// - weight: [outChannels, inChannels / groups, kernelH, kernelW]
    /// - bias: [outChannels] or nil
    /// - stride, dilation: [rows, cols]
    /// - returns: [batch, outChannels, outH, outW]
    ///
    /// Depthwise convolutions (groups == inChannels == outChannels) run a direct kernel; 1×1
    /// stride-1 unpadded convolutions are one GEMM `weight[out, in] @ x[in, h*w]`; everything
    /// else is im2col + GEMM per group. With the OpenBLAS backend those GEMMs run in the
    /// register-tiled `sc_conv_gemm` kernel (bias and activation applied per 32-column strip).
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1],
                       padding: Padding2D = .zero, dilation: [Int] = [1, 1], groups: Int = 1,
                       activation: ConvActivation = .none) throws -> Tensor {
        guard x.rank == 4, weight.rank == 4 else {
            throw TensorError.invalidArgument(op: "conv2d", "needs x [N,C,H,W] and weight [O,C/g,kh,kw], got \(x.shape) and \(weight.shape)")
        }
        guard stride.count == 2, dilation.count == 2, (stride + dilation).allSatisfy({ (1...maxWindowParameter).contains($0) }) else {
            throw TensorError.invalidArgument(op: "conv2d", "stride \(stride) and dilation \(dilation) must be two values in 1...\(maxWindowParameter)")
        }
        let (n, cin, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (cout, cinG, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        guard groups >= 1, cin % groups == 0, cout % groups == 0, cinG == cin / groups, kh >= 1, kw >= 1 else {
            throw TensorError.shapeMismatch(op: "conv2d", "x \(x.shape), weight \(weight.shape), groups \(groups)")
        }
        if let bias, bias.shape != [cout] {
            throw TensorError.shapeMismatch(op: "conv2d", "bias \(bias.shape) for \(cout) output channels")
        }
        let (sh, sw, dh, dw) = (stride[0], stride[1], dilation[0], dilation[1])
        let ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1
        let pads = padding.resolve(inH: h, inW: w, kernelH: ekh, kernelW: ekw, strideH: sh, strideW: sw)
        guard [pads.top, pads.left, pads.bottom, pads.right].allSatisfy({ (0...maxWindowParameter).contains($0) }),
              kh <= maxWindowParameter, kw <= maxWindowParameter else {
            throw TensorError.invalidArgument(op: "conv2d", "padding \(padding) or kernel \(kh)x\(kw) outside 0...\(maxWindowParameter)")
        }
        let oh = slidingWindowOutputSize(h, kernel: kh, stride: sh, padBegin: pads.top, padEnd: pads.bottom, dilation: dh)
        let ow = slidingWindowOutputSize(w, kernel: kw, stride: sw, padBegin: pads.left, padEnd: pads.right, dilation: dw)
        guard oh > 0, ow > 0 else {
            throw TensorError.invalidArgument(op: "conv2d", "window \(kh)x\(kw) (dilation \(dilation)) larger than padded input \(x.shape) with \(padding)")
        }
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous()
        let out = Tensor(zeros: [n, cout, oh, ow])
        let (act, actA, actB) = activation.code
        let px = xc.contiguousPointer, pw = wc.contiguousPointer, py = out.contiguousPointer
        let pb: UnsafePointer<Float>? = bc.map { UnsafePointer($0.contiguousPointer) }
        let planeIn = cin * h * w, planeOut = cout * oh * ow, ohw = oh * ow

        if groups == cin && cout == cin {
            // Depthwise: one filter per channel.
            for b in 0..<n {
                let xb = px + b * planeIn, yb = py + b * planeOut
                parallelFor(cin, costPerItem: ohw * kh * kw) { c0, c1 in
                    sc_conv_depthwise(xb, Int32(h), Int32(w), pw, Int32(kh), Int32(kw), Int32(sh), Int32(sw),
                                      Int32(pads.top), Int32(pads.left), Int32(dh), Int32(dw), pb, yb,
                                      Int32(oh), Int32(ow), Int32(c0), Int32(c1), act, actA, actB)
                }
            }
        } else {
            let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && pads == (0, 0, 0, 0)
            let coutG = cout / groups
            let kdim = cinG * kh * kw
            let col = pointwise ? nil : Tensor(zeros: [kdim, ohw])
            // The GEMM runs single-threaded per column block on this device's workers, with the bias
            // and activation applied to each block while it is in cache (no BLAS thread pool
            // spinning against the depthwise kernels between calls).
            let blockGEMM = singleThreadedGEMM(gemm)
            let hasEpilogue = pb != nil || act != Int32(SC_ACT_NONE)
            let useTiledKernel = usesTiledConvKernel(gemm)
            for b in 0..<n {
                for g in 0..<groups {
                    let xg = px + b * planeIn + g * cinG * h * w
                    let yg = py + b * planeOut + g * coutG * ohw
                    var bmat = UnsafePointer(xg)
                    if let col {
                        let pcol = col.contiguousPointer
                        parallelFor(kdim, costPerItem: ohw) { r0, r1 in
                            sc_im2col(xg, Int32(h), Int32(w), Int32(kh), Int32(kw), Int32(sh), Int32(sw),
                                      Int32(pads.top), Int32(pads.left), Int32(dh), Int32(dw),
                                      Int32(oh), Int32(ow), pcol, Int32(r0), Int32(r1))
                        }
                        bmat = UnsafePointer(pcol)
                    }
                    let wg = pw + g * coutG * kdim
                    let biasG = pb.map { $0 + g * coutG }
                    if useTiledKernel {
                        // Split columns in 32-wide strips when there are enough, else rows in 8-row tiles.
                        let strips = (ohw + 31) / 32, tiles = (coutG + 7) / 8
                        if strips >= 2 * threads || tiles < 2 * threads {
                            parallelFor(strips, costPerItem: 64 * coutG * kdim) { s0, s1 in
                                sc_conv_gemm(wg, Int32(coutG), Int32(kdim), bmat, Int32(ohw), yg, Int32(ohw), biasG,
                                             0, Int32(coutG), Int32(s0 * 32), Int32(min(s1 * 32, ohw)), act, actA, actB)
                            }
                        } else {
                            parallelFor(tiles, costPerItem: 16 * ohw * kdim) { t0, t1 in
                                sc_conv_gemm(wg, Int32(coutG), Int32(kdim), bmat, Int32(ohw), yg, Int32(ohw), biasG,
                                             Int32(t0 * 8), Int32(min(t1 * 8, coutG)), 0, Int32(ohw), act, actA, actB)
                            }
                        }
                        continue
                    }
                    if kdim <= smallKLimit {
                        parallelFor(ohw, costPerItem: 2 * coutG * kdim) { j0, j1 in
                            sc_gemm_smallk(wg, Int32(coutG), Int32(kdim), bmat, Int32(ohw), yg, Int32(ohw), biasG,
                                           Int32(j0), Int32(j1), act, actA, actB)
                        }
                        continue
                    }
                    parallelFor(ohw, costPerItem: 2 * coutG * kdim) { j0, j1 in
                        blockGEMM.sgemm(transA: false, transB: false, m: coutG, n: j1 - j0, k: kdim, alpha: 1,
                                        a: wg, lda: kdim, b: bmat + j0, ldb: ohw, beta: 0, c: yg + j0, ldc: ohw)
                        if hasEpilogue {
                            sc_bias_act_block(yg + j0, Int32(ohw), Int32(j1 - j0), biasG, 0, Int32(coutG), act, actA, actB)
                        }
                    }
                }
            }
            _ = col?.storage
        }
        _ = (xc.storage, wc.storage, bc?.storage)
        return out
    }
}

/// Convolutions whose GEMM has at most this many reduction terms (input channels × kernel area)
/// use a direct register-blocked loop instead of BLAS, whose packing dominates at small K.
let smallKLimit = 32

/// Whether conv2d's matrix products go through the register-tiled `sc_conv_gemm` instead of
/// `backend`: yes for OpenBLAS (whose per-call packing dominates at these small sizes, measured in
/// docs/performance.md), no for Accelerate and the portable reference backend, which keep the
/// BLAS route (and keep it tested).
func usesTiledConvKernel(_ backend: any GEMMBackend) -> Bool {
    #if !canImport(Accelerate) && canImport(CBLAS)
    return backend is OpenBLASGEMM
    #else
    return false
    #endif
}

/// A single-threaded form of `backend` for callers that split the work over their own threads.
func singleThreadedGEMM(_ backend: any GEMMBackend) -> any GEMMBackend {
    #if !canImport(Accelerate) && canImport(CBLAS)
    if backend is OpenBLASGEMM { return OpenBLASGEMM(threads: 1) }
    #endif
    return backend
}

/// Folds an inference batch norm into the preceding convolution, once at load time:
/// `w'[o] = w[o] * gamma[o] / sqrt(var[o] + eps)`, `b'[o] = (b[o] - mean[o]) * gamma[o] / sqrt(var[o] + eps) + beta[o]`.
///
/// - weight: [outChannels, inChannels / groups, kh, kw]; bias: [outChannels] or nil (zero)
/// - gamma, beta, mean, variance: [outChannels]
/// - returns: the folded weight (same shape) and bias [outChannels]
public func foldBatchNorm(weight: Tensor, bias: Tensor? = nil, gamma: Tensor, beta: Tensor,
                          mean: Tensor, variance: Tensor, epsilon: Float) throws -> (weight: Tensor, bias: Tensor) {
    guard weight.rank >= 1 else {
        throw TensorError.invalidArgument(op: "foldBatchNorm", "weight must have an output-channel dimension, got \(weight.shape)")
    }
    let o = weight.shape[0]
    for (name, t) in [("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)] + (bias.map { [("bias", $0)] } ?? []) {
        guard t.shape == [o] else {
            throw TensorError.shapeMismatch(op: "foldBatchNorm", "\(name) \(t.shape) for weight \(weight.shape)")
        }
    }
    guard epsilon >= 0 else { throw TensorError.invalidArgument(op: "foldBatchNorm", "epsilon \(epsilon) < 0") }
    let per = o == 0 ? 0 : weight.count / o
    let g = gamma.scalars, be = beta.scalars, m = mean.scalars, v = variance.scalars
    let b0 = bias?.scalars ?? [Float](repeating: 0, count: o)
    var w = weight.scalars
    var newBias = [Float](repeating: 0, count: o)
    for c in 0..<o {
        let s = g[c] / (v[c] + epsilon).squareRoot()
        for i in 0..<per { w[c * per + i] *= s }
        newBias[c] = (b0[c] - m[c]) * s + be[c]
    }
    return (Tensor(w, shape: weight.shape), Tensor(newBias, shape: [o]))
}
