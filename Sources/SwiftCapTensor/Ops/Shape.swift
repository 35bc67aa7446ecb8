/// Joining and splitting tensors along a dimension (reshape/transpose/narrow live on `Tensor`).
extension Device {
    /// Concatenates `tensors` along `dim` (negative counts from the end). All shapes must agree
    /// except along `dim`. [..., a_i, ...] for each i -> [..., Σ a_i, ...].
    public func concat(_ tensors: [Tensor], dim: Int) throws -> Tensor {
        guard let first = tensors.first else {
            throw TensorError.invalidArgument(op: "concat", "no tensors to concatenate")
        }
        let rank = first.rank
        let d = dim < 0 ? rank + dim : dim
        guard (0..<rank).contains(d) else {
            throw TensorError.invalidArgument(op: "concat", "dim \(dim) for rank \(rank)")
        }
        var total = 0
        for t in tensors {
            guard t.rank == rank else {
                throw TensorError.shapeMismatch(op: "concat", "ranks differ: \(first.shape) vs \(t.shape)")
            }
            for i in 0..<rank where i != d && t.shape[i] != first.shape[i] {
                throw TensorError.shapeMismatch(op: "concat", "\(first.shape) vs \(t.shape) along dim \(d)")
            }
            total += t.shape[d]
        }
        var outShape = first.shape
        outShape[d] = total
        let out = Tensor(zeros: outShape)
        if out.count == 0 { return out }
        let outer = first.shape[..<d].reduce(1, *), inner = first.shape[(d + 1)...].reduce(1, *)
        let dst = out.contiguousPointer
        let rowOut = total * inner
        var column = 0
        for t in tensors {
            let tc = t.contiguous()
            let chunk = t.shape[d] * inner
            if chunk > 0 {
                let src = UnsafePointer(tc.contiguousPointer)
                let base = column
                parallelFor(outer, costPerItem: chunk) { start, end in
                    for o in start..<end { (dst + o * rowOut + base).update(from: src + o * chunk, count: chunk) }
                }
            }
            column += chunk
            withExtendedLifetime(tc.storage) {}
        }
        return out
    }

    /// Stacks equally shaped tensors along a new dimension `dim`. [s] × n -> [..., n, ...].
    public func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        guard let first = tensors.first else {
            throw TensorError.invalidArgument(op: "stack", "no tensors to stack")
        }
        let d = dim < 0 ? first.rank + 1 + dim : dim
        guard (0...first.rank).contains(d) else {
            throw TensorError.invalidArgument(op: "stack", "dim \(dim) for rank \(first.rank)")
        }
        var expanded: [Tensor] = []
        for t in tensors {
            guard t.shape == first.shape else {
                throw TensorError.shapeMismatch(op: "stack", "\(first.shape) vs \(t.shape)")
            }
            var s = t.shape
            s.insert(1, at: d)
            expanded.append(try t.reshaped(s))
        }
        return try concat(expanded, dim: d)
    }

    /// Splits `x` along `dim` into pieces of the given sizes (which must sum to the dimension).
    /// Each piece is a contiguous copy. [..., Σ sizes, ...] -> [[..., sizes[i], ...]].
    public func split(_ x: Tensor, sizes: [Int], dim: Int) throws -> [Tensor] {
        let d = dim < 0 ? x.rank + dim : dim
        guard (0..<x.rank).contains(d) else {
            throw TensorError.invalidArgument(op: "split", "dim \(dim) for shape \(x.shape)")
        }
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == x.shape[d] else {
            throw TensorError.shapeMismatch(op: "split", "sizes \(sizes) do not sum to \(x.shape[d]) (dim \(d) of \(x.shape))")
        }
        var pieces: [Tensor] = []
        var start = 0
        for s in sizes {
            pieces.append(try x.narrowed(dim: d, start: start, length: s).contiguousRuns())
            start += s
        }
        return pieces
    }

    /// Splits `x` along `dim` into `parts` equal pieces (the dimension must divide evenly).
    public func split(_ x: Tensor, parts: Int, dim: Int) throws -> [Tensor] {
        let d = dim < 0 ? x.rank + dim : dim
        guard (0..<x.rank).contains(d), parts > 0, x.shape[d] % parts == 0 else {
            throw TensorError.invalidArgument(op: "split", "\(parts) equal parts along dim \(dim) of \(x.shape)")
        }
        return try split(x, sizes: Array(repeating: x.shape[d] / parts, count: parts), dim: d)
    }
}

extension Tensor {
    /// The same result as `contiguous()`, copied in runs: size-1 dimensions are dropped and
    /// neighbouring dimensions laid out back to back are merged, so each innermost run (for
    /// example a whole [H, W] plane of a channel shuffle, or a channel slice) moves with one
    /// memory copy instead of element by element.
    public func contiguousRuns() -> Tensor {
        if isContiguous { return self }
        var dims: [(size: Int, stride: Int)] = []
        for (n, s) in zip(shape, strides) where n != 1 {
            if let last = dims.last, last.stride == s * n {
                dims[dims.count - 1] = (last.size * n, s)
            } else {
                dims.append((n, s))
            }
        }
        guard let innermost = dims.last, innermost.stride == 1 else { return contiguous() }
        let out = Tensor(zeros: shape)
        let inner = innermost.size
        let outerDims = Array(dims.dropLast())
        let runs = outerDims.reduce(1) { $0 * $1.size }
        let dst = out.contiguousPointer, src = UnsafePointer(storage.pointer)
        var index = [Int](repeating: 0, count: outerDims.count)
        var srcOff = offset
        for r in 0..<runs {
            (dst + r * inner).update(from: src + srcOff, count: inner)
            var d = outerDims.count - 1
            while d >= 0 {
                index[d] += 1
                srcOff += outerDims[d].stride
                if index[d] < outerDims[d].size { break }
                srcOff -= outerDims[d].stride * outerDims[d].size
                index[d] = 0
                d -= 1
            }
        }
        _ = storage
        return out
    }
}
