/// Errors from index-based ops; each names the op, the offending index and the valid range.
public enum IndexError: Error, CustomStringConvertible, Equatable {
    case outOfRange(op: String, index: Int, count: Int)

    public var description: String {
        switch self {
        case .outOfRange(let op, let index, let count):
            return "\(op): index \(index) is out of range 0..<\(count)"
        }
    }
}

extension Device {
    /// Embedding lookup: row `ids[i]` of `table` for every id.
    /// ids: `shape` (flattened, row-major; default [ids.count]); table: [vocab, dim] -> shape + [dim].
    /// Throws `IndexError.outOfRange` for an id outside `0..<vocab`.
    public func embedding(_ ids: [Int], table: Tensor, shape: [Int]? = nil) throws -> Tensor {
        guard table.rank == 2 else {
            throw TensorError.invalidArgument(op: "embedding", "table must be [vocab, dim], got \(table.shape)")
        }
        let idShape = shape ?? [ids.count]
        guard idShape.reduce(1, *) == ids.count else {
            throw TensorError.shapeMismatch(op: "embedding", "\(ids.count) ids for shape \(idShape)")
        }
        let vocab = table.shape[0], dim = table.shape[1]
        for id in ids where id < 0 || id >= vocab {
            throw IndexError.outOfRange(op: "embedding", index: id, count: vocab)
        }
        let tc = table.contiguous()
        let out = Tensor(zeros: idShape + [dim])
        let src = UnsafePointer(tc.contiguousPointer), dst = out.contiguousPointer
        ids.withUnsafeBufferPointer { idp in
            parallelFor(ids.count, costPerItem: dim) { start, end in
                for i in start..<end { (dst + i * dim).update(from: src + idp[i] * dim, count: dim) }
            }
        }
        withExtendedLifetime(tc.storage) {}
        return out
    }

    /// Selects entries `indices` along dimension `dim` (PyTorch `index_select`).
    /// x: [..., n, ...] -> [..., indices.count, ...]. Throws `IndexError.outOfRange` for a bad index.
    public func indexSelect(_ x: Tensor, dim: Int, indices: [Int]) throws -> Tensor {
        let d = dim < 0 ? x.rank + dim : dim
        guard (0..<x.rank).contains(d) else {
            throw TensorError.invalidArgument(op: "indexSelect", "dim \(dim) for shape \(x.shape)")
        }
        let n = x.shape[d]
        for i in indices where i < 0 || i >= n {
            throw IndexError.outOfRange(op: "indexSelect", index: i, count: n)
        }
        let xc = x.contiguous()
        var outShape = x.shape
        outShape[d] = indices.count
        let out = Tensor(zeros: outShape)
        let outer = x.shape[..<d].reduce(1, *), inner = x.shape[(d + 1)...].reduce(1, *)
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        let k = indices.count
        indices.withUnsafeBufferPointer { idx in
            parallelFor(outer * k, costPerItem: inner) { start, end in
                for t in start..<end {
                    let o = t / k, j = t % k
                    (dst + t * inner).update(from: src + (o * n + idx[j]) * inner, count: inner)
                }
            }
        }
        withExtendedLifetime(xc.storage) {}
        return out
    }
}
