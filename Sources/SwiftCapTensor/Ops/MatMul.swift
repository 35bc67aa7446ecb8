/// Matrix products. Shapes are written `[batch…, rows, cols]`.
extension Device {
    /// `a[…, m, k] @ b[…, k, n] -> […, m, n]`. Batch dimensions broadcast (numpy rules);
    /// a rank-2 `b` is shared by every batch of `a`.
    public func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank >= 2, b.rank >= 2 else {
            throw TensorError.invalidArgument(op: "matmul", "needs rank >= 2, got \(a.shape) @ \(b.shape)")
        }
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else { throw TensorError.shapeMismatch(op: "matmul", "\(a.shape) @ \(b.shape)") }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let batch = try broadcastShapes(batchA, batchB, op: "matmul")
        let ac = a.contiguous(), bc = b.contiguous()
        let out = Tensor(zeros: batch + [m, n])
        let batchCount = batch.reduce(1, *)
        let pa = ac.contiguousPointer, pb = bc.contiguousPointer, pc = out.contiguousPointer
        // When b has no batch (a weight matrix), fold a's batch into rows: one large GEMM.
        if batchB.reduce(1, *) == 1 && batchA == batch {
            gemm.sgemm(transA: false, transB: false, m: batchCount * m, n: n, k: k, alpha: 1,
                       a: pa, lda: k, b: pb, ldb: n, beta: 0, c: pc, ldc: n)
            return out
        }
        for i in 0..<batchCount {
            let ia = broadcastIndex(i, from: batch, to: batchA), ib = broadcastIndex(i, from: batch, to: batchB)
            gemm.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1,
                       a: pa + ia * m * k, lda: k, b: pb + ib * k * n, ldb: n,
                       beta: 0, c: pc + i * m * n, ldc: n)
        }
        _ = out.storage
        return out
    }

    /// Fully connected layer as PyTorch's `nn.Linear`: `x[…, in] @ weight[out, in]ᵀ + bias[out]`.
    ///
    /// With at most `smallRowLimit` rows (a decoding step) in release builds, each weight row is
    /// streamed once through SIMD dot products instead of calling GEMM, which is memory-bound there
    /// and 2–4× faster than OpenBLAS' small-M path on the machines measured.
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        try linear(x, weight: weight, bias: bias, smallRowKernel: vectorKernelsByDefault)
    }

    /// Rows up to which `linear` streams weights instead of calling GEMM.
    static let smallRowLimit = 4

    func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, smallRowKernel: Bool) throws -> Tensor {
        guard weight.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == weight.shape[1] else {
            throw TensorError.shapeMismatch(op: "linear", "input \(x.shape), weight \(weight.shape)")
        }
        let outF = weight.shape[0], inF = weight.shape[1]
        if let bias, bias.shape != [outF] {
            throw TensorError.shapeMismatch(op: "linear", "bias \(bias.shape) for weight \(weight.shape)")
        }
        let xc = x.contiguous(), wc = weight.contiguous()
        let rows = inF == 0 ? 0 : x.count / inF
        let out = Tensor(zeros: Array(x.shape.dropLast()) + [outF])
        let pc = out.contiguousPointer
        if smallRowKernel && rows <= Device.smallRowLimit && rows > 0 && inF > 0 {
            let px = UnsafePointer(xc.contiguousPointer), pw = UnsafePointer(wc.contiguousPointer)
            let bc = bias?.contiguous()
            let pb = bc.map { UnsafePointer($0.contiguousPointer) }
            parallelFor(outF, costPerItem: inF * rows) { start, end in
                for o in start..<end {
                    let wr = pw + o * inF
                    let b0: Float = pb?[o] ?? 0
                    for r in 0..<rows { pc[r * outF + o] = dotRow(px + r * inF, wr, inF, true) + b0 }
                }
            }
            withExtendedLifetime((xc.storage, wc.storage, bc?.storage)) {}
            return out
        }
        var beta: Float = 0
        if let bias {
            let pbias = bias.contiguous()
            let src = pbias.contiguousPointer
            for r in 0..<rows { (pc + r * outF).update(from: src, count: outF) }
            beta = 1
            _ = pbias.storage
        }
        gemm.sgemm(transA: false, transB: true, m: rows, n: outF, k: inF, alpha: 1,
                   a: xc.contiguousPointer, lda: inF, b: wc.contiguousPointer, ldb: inF,
                   beta: beta, c: pc, ldc: outF)
        _ = (xc.storage, wc.storage)
        return out
    }
}

extension Device {
    /// Fully connected layer with the weight stored [in, out], as GPT-2's `Conv1D`:
    /// `x[…, in] @ weight[in, out] + bias[out]` (no transposed copy of the weight is made).
    public func linear(_ x: Tensor, weightInOut weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        guard weight.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == weight.shape[0] else {
            throw TensorError.shapeMismatch(op: "linear(weightInOut:)", "input \(x.shape), weight [in, out] \(weight.shape)")
        }
        let inF = weight.shape[0], outF = weight.shape[1]
        if let bias, bias.shape != [outF] {
            throw TensorError.shapeMismatch(op: "linear(weightInOut:)", "bias \(bias.shape) for weight \(weight.shape)")
        }
        let xc = x.contiguous(), wc = weight.contiguous()
        let rows = x.count / max(inF, 1)
        let out = Tensor(zeros: Array(x.shape.dropLast()) + [outF])
        let pc = out.contiguousPointer
        var beta: Float = 0
        if let bias {
            let bc = bias.contiguous()
            let src = bc.contiguousPointer
            for r in 0..<rows { (pc + r * outF).update(from: src, count: outF) }
            beta = 1
            withExtendedLifetime(bc.storage) {}
        }
        gemm.sgemm(transA: false, transB: false, m: rows, n: outF, k: inF, alpha: 1,
                   a: xc.contiguousPointer, lda: inF, b: wc.contiguousPointer, ldb: outF,
                   beta: beta, c: pc, ldc: outF)
        withExtendedLifetime((xc.storage, wc.storage)) {}
        return out
    }
}

/// Numpy-style broadcast of two shapes.
public func broadcastShapes(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        guard da == db || da == 1 || db == 1 else {
            throw TensorError.shapeMismatch(op: op, "cannot broadcast \(a) with \(b)")
        }
        out[i] = max(da, db)
    }
    return out
}

/// Maps a flat index in the broadcast shape `full` to the flat index in `part` (right-aligned, size-1 dims repeat).
func broadcastIndex(_ flat: Int, from full: [Int], to part: [Int]) -> Int {
    if part.isEmpty { return 0 }
    var rem = flat, idx = 0, mul = 1
    for d in stride(from: full.count - 1, through: 0, by: -1) {
        let coord = rem % full[d]
        rem /= full[d]
        let pd = d - (full.count - part.count)
        if pd >= 0 {
            if part[pd] != 1 { idx += coord * mul }
            mul *= part[pd]
        }
    }
    return idx
}
