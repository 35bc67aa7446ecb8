import Foundation

/// Normalisation over the last dimension, row by row (rows threaded with `parallelFor`).
extension Device {
    /// Layer normalisation as `nn.LayerNorm(dim, eps)`:
    /// `(x − mean) / √(var + eps) · weight + bias`, with the biased variance over the last dimension.
    /// x: [*, dim]; weight, bias: [dim] (each optional) -> [*, dim].
    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) throws -> Tensor {
        try layerNorm(x, weight: weight, bias: bias, eps: eps, vectorized: vectorKernelsByDefault)
    }

    func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, vectorized v: Bool) throws -> Tensor {
        guard x.rank >= 1, let dim = x.shape.last, dim > 0 else {
            throw TensorError.invalidArgument(op: "layerNorm", "input \(x.shape) has no last dimension to normalise")
        }
        if let weight, weight.shape != [dim] {
            throw TensorError.shapeMismatch(op: "layerNorm", "weight \(weight.shape) for input \(x.shape)")
        }
        if let bias, bias.shape != [dim] {
            throw TensorError.shapeMismatch(op: "layerNorm", "bias \(bias.shape) for input \(x.shape)")
        }
        let xc = x.contiguous(), wc = weight?.contiguous(), bc = bias?.contiguous()
        let out = Tensor(zeros: x.shape)
        let rows = x.count / dim
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        let pw = wc.map { UnsafePointer($0.contiguousPointer) }, pb = bc.map { UnsafePointer($0.contiguousPointer) }
        let invDim = 1 / Float(dim)
        parallelFor(rows, costPerItem: dim * 4) { start, end in
            for r in start..<end {
                let s = src + r * dim, d = dst + r * dim
                let mean = sumRow(s, dim, v) * invDim
                let sq = centeredSquares(s, dim, mean, v)
                let inv = 1 / (sq * invDim + eps).squareRoot()
                switch (pw, pb) {
                case let (w?, b?): for j in 0..<dim { d[j] = (s[j] - mean) * inv * w[j] + b[j] }
                case let (w?, nil): for j in 0..<dim { d[j] = (s[j] - mean) * inv * w[j] }
                case let (nil, b?): for j in 0..<dim { d[j] = (s[j] - mean) * inv + b[j] }
                case (nil, nil): for j in 0..<dim { d[j] = (s[j] - mean) * inv }
                }
            }
        }
        withExtendedLifetime((xc.storage, wc?.storage, bc?.storage)) {}
        return out
    }

    /// RMS normalisation (LLaMA / T5 style): `x / √(mean(x²) + eps) · weight`.
    /// x: [*, dim]; weight: [dim] (optional) -> [*, dim].
    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float = 1e-6) throws -> Tensor {
        try rmsNorm(x, weight: weight, eps: eps, vectorized: vectorKernelsByDefault)
    }

    func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float, vectorized v: Bool) throws -> Tensor {
        guard x.rank >= 1, let dim = x.shape.last, dim > 0 else {
            throw TensorError.invalidArgument(op: "rmsNorm", "input \(x.shape) has no last dimension to normalise")
        }
        if let weight, weight.shape != [dim] {
            throw TensorError.shapeMismatch(op: "rmsNorm", "weight \(weight.shape) for input \(x.shape)")
        }
        let xc = x.contiguous(), wc = weight?.contiguous()
        let out = Tensor(zeros: x.shape)
        let rows = x.count / dim
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        let pw = wc.map { UnsafePointer($0.contiguousPointer) }
        parallelFor(rows, costPerItem: dim * 3) { start, end in
            for r in start..<end {
                let s = src + r * dim, d = dst + r * dim
                let inv = 1 / (dotRow(s, s, dim, v) / Float(dim) + eps).squareRoot()
                if let w = pw {
                    for j in 0..<dim { d[j] = s[j] * inv * w[j] }
                } else {
                    for j in 0..<dim { d[j] = s[j] * inv }
                }
            }
        }
        withExtendedLifetime((xc.storage, wc?.storage)) {}
        return out
    }

    /// Softmax over the last dimension, numerically stable (subtracts the row maximum).
    /// A row that is entirely −∞ (fully masked) gives all zeros rather than NaN.
    /// x: [*, dim] -> [*, dim].
    public func softmax(_ x: Tensor) throws -> Tensor {
        try softmax(x, vectorized: vectorKernelsByDefault)
    }

    func softmax(_ x: Tensor, vectorized v: Bool) throws -> Tensor {
        guard x.rank >= 1, let dim = x.shape.last else {
            throw TensorError.invalidArgument(op: "softmax", "input \(x.shape) has no last dimension")
        }
        let xc = x.contiguous()
        let out = Tensor(zeros: x.shape)
        if dim == 0 || x.count == 0 { return out }
        let rows = x.count / dim
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        parallelFor(rows, costPerItem: dim * 8) { start, end in
            for r in start..<end {
                let s = src + r * dim, d = dst + r * dim
                d.update(from: s, count: dim)
                softmaxRowInPlace(d, dim, v)
            }
        }
        withExtendedLifetime(xc.storage) {}
        return out
    }

    /// Log-softmax over the last dimension (stable). x: [*, dim] -> [*, dim].
    public func logSoftmax(_ x: Tensor) throws -> Tensor {
        guard x.rank >= 1, let dim = x.shape.last else {
            throw TensorError.invalidArgument(op: "logSoftmax", "input \(x.shape) has no last dimension")
        }
        let xc = x.contiguous()
        let out = Tensor(zeros: x.shape)
        if dim == 0 || x.count == 0 { return out }
        let rows = x.count / dim
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        parallelFor(rows, costPerItem: dim * 8) { start, end in
            for r in start..<end {
                let s = src + r * dim, d = dst + r * dim
                var m = -Float.infinity
                for j in 0..<dim { m = Swift.max(m, s[j]) }
                var sum: Float = 0
                for j in 0..<dim { sum += expf(s[j] - m) }
                let lse = m + logf(sum)
                for j in 0..<dim { d[j] = s[j] - lse }
            }
        }
        withExtendedLifetime(xc.storage) {}
        return out
    }
}

extension Device {
    /// Divides each row by its Euclidean norm (`x / ‖x‖` over the last dimension, as CLIP's
    /// normalised embeddings; `eps` guards an all-zero row). x: [*, dim] -> [*, dim].
    public func l2Normalize(_ x: Tensor, eps: Float = 0) throws -> Tensor {
        try l2Normalize(x, eps: eps, vectorized: vectorKernelsByDefault)
    }

    func l2Normalize(_ x: Tensor, eps: Float, vectorized v: Bool) throws -> Tensor {
        guard x.rank >= 1, let dim = x.shape.last, dim > 0 else {
            throw TensorError.invalidArgument(op: "l2Normalize", "input \(x.shape) has no last dimension")
        }
        let xc = x.contiguous()
        let out = Tensor(zeros: x.shape)
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        parallelFor(x.count / dim, costPerItem: dim * 2) { start, end in
            for r in start..<end {
                let s = src + r * dim, d = dst + r * dim
                let norm = Swift.max(dotRow(s, s, dim, v).squareRoot(), eps)
                let inv = 1 / norm
                for j in 0..<dim { d[j] = s[j] * inv }
            }
        }
        withExtendedLifetime(xc.storage) {}
        return out
    }
}
