/// Additive attention masks: 0 where a query may attend, −∞ where it may not. They are added to
/// attention scores before the softmax, so they broadcast against [batch, heads, queries, keys].
extension Device {
    /// Causal mask for `queries` new positions that follow `past` cached ones: query i (absolute
    /// position past + i) sees keys 0...past + i. -> [queries, past + queries].
    public func causalMask(queries: Int, past: Int = 0) throws -> Tensor {
        guard queries >= 0, past >= 0 else {
            throw TensorError.invalidArgument(op: "causalMask", "queries \(queries), past \(past)")
        }
        let keys = past + queries
        let out = Tensor(zeros: [queries, keys])
        let p = out.contiguousPointer
        for i in 0..<queries {
            let firstMasked = past + i + 1
            if firstMasked < keys {
                (p + i * keys + firstMasked).update(repeating: -Float.infinity, count: keys - firstMasked)
            }
        }
        return out
    }

    /// Padding mask from a keep-mask (1 = real token, 0 = padding), as Hugging Face's `attention_mask`.
    /// keep: [batch, keys] -> [batch, 1, 1, keys].
    public func paddingMask(keep: Tensor) throws -> Tensor {
        guard keep.rank == 2 else {
            throw TensorError.invalidArgument(op: "paddingMask", "keep mask must be [batch, keys], got \(keep.shape)")
        }
        let values = keep.scalars.map { $0 != 0 ? Float(0) : -Float.infinity }
        return Tensor(values, shape: [keep.shape[0], 1, 1, keep.shape[1]])
    }

    /// Padding mask from valid lengths: batch item b keeps its first `lengths[b]` keys
    /// (or its last ones when `leftPadded`). -> [batch, 1, 1, keys].
    public func paddingMask(lengths: [Int], keys: Int, leftPadded: Bool = false) throws -> Tensor {
        var values = [Float](repeating: 0, count: lengths.count * keys)
        for (b, len) in lengths.enumerated() {
            guard (0...keys).contains(len) else {
                throw TensorError.invalidArgument(op: "paddingMask", "length \(len) of batch item \(b) exceeds \(keys) keys")
            }
            let masked = leftPadded ? 0..<(keys - len) : len..<keys
            for j in masked { values[b * keys + j] = -Float.infinity }
        }
        return Tensor(values, shape: [lengths.count, 1, 1, keys])
    }
}
