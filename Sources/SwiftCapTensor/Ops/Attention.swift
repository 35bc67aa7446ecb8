import Foundation

/// Scaled-dot-product attention, multi-head reshaping helpers and a key/value cache for
/// incremental decoding. Layout throughout: [batch, heads, seq, headDim].
extension Device {
    /// `softmax(q kᵀ · scale + mask) v` per batch item and head.
    ///
    /// - query: [batch, heads, queries, headDim]
    /// - key: [batch, heads, keys, headDim]
    /// - value: [batch, heads, keys, valueDim]
    /// - mask: additive, broadcastable to [batch, heads, queries, keys] (e.g. `causalMask`, `paddingMask`)
    /// - causal: also mask keys after each query, aligning the last query with the last key
    ///   (query i sees keys 0...keys − queries + i), which is what cached decoding needs
    /// - scale: defaults to 1/√headDim
    /// - returns: [batch, heads, queries, valueDim]
    ///
    /// Inputs may be strided views (head splits, cache windows) as long as the last dimension is
    /// unit-stride; otherwise they are copied. Work is split over (batch, head, query) rows.
    public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
                                          causal: Bool = false, scale: Float? = nil) throws -> Tensor {
        try scaledDotProductAttention(query: query, key: key, value: value, mask: mask, causal: causal, scale: scale,
                                      vectorized: vectorKernelsByDefault)
    }

    func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor?, causal: Bool, scale: Float?,
                                   vectorized vec: Bool) throws -> Tensor {
        guard query.rank == 4, key.rank == 4, value.rank == 4 else {
            throw TensorError.invalidArgument(op: "attention", "q, k, v must be rank 4 [batch, heads, seq, dim]; got \(query.shape), \(key.shape), \(value.shape)")
        }
        let b = query.shape[0], h = query.shape[1], sq = query.shape[2], d = query.shape[3]
        let sk = key.shape[2], dv = value.shape[3]
        guard key.shape == [b, h, sk, d], value.shape[0] == b, value.shape[1] == h, value.shape[2] == sk else {
            throw TensorError.shapeMismatch(op: "attention", "q \(query.shape), k \(key.shape), v \(value.shape)")
        }
        if causal && sk < sq {
            throw TensorError.invalidArgument(op: "attention", "causal attention with \(sq) queries but only \(sk) keys")
        }
        var maskStrides = [0, 0, 0, 0]
        var mc: Tensor? = nil
        if let mask {
            let full = try broadcastShapes(mask.shape, [b, h, sq, sk], op: "attention mask")
            guard full == [b, h, sq, sk] else {
                throw TensorError.shapeMismatch(op: "attention", "mask \(mask.shape) does not broadcast to \([b, h, sq, sk])")
            }
            let m = mask.contiguous()
            let lead = 4 - m.rank
            for i in 0..<m.rank where m.shape[i] != 1 { maskStrides[lead + i] = m.strides[i] }
            mc = m
        }
        let q = query.strides[3] == 1 ? query : query.contiguous()
        let k = key.strides[3] == 1 ? key : key.contiguous()
        let v = value.strides[3] == 1 ? value : value.contiguous()
        let out = Tensor(zeros: [b, h, sq, dv])
        if out.count == 0 { return out }
        let s = scale ?? 1 / Float(d).squareRoot()
        let qs = q.strides, ks = k.strides, vs = v.strides
        let pq = UnsafePointer(q.storage.pointer + q.offset), pk = UnsafePointer(k.storage.pointer + k.offset)
        let pv = UnsafePointer(v.storage.pointer + v.offset)
        let pm = mc.map { UnsafePointer($0.contiguousPointer) }
        let ms = maskStrides
        let po = out.contiguousPointer
        let shift = sk - sq
        // Many queries (prefill, encoders): two GEMMs per (batch, head) with the softmax between them.
        if sq >= 8 && sk >= 8 && qs[2] >= d && ks[2] >= d && vs[2] >= dv {
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: sq * sk)
            defer { scores.deallocate() }
            for bh in 0..<(b * h) {
                let bi = bh / h, hi = bh % h
                gemm.sgemm(transA: false, transB: true, m: sq, n: sk, k: d, alpha: s,
                           a: pq + bi * qs[0] + hi * qs[1], lda: qs[2], b: pk + bi * ks[0] + hi * ks[1], ldb: ks[2],
                           beta: 0, c: scores, ldc: sk)
                parallelFor(sq, costPerItem: sk * 8) { start, end in
                    for i in start..<end {
                        let row = scores + i * sk
                        let visible = causal ? shift + i + 1 : sk
                        if visible < sk { (row + visible).update(repeating: -Float.infinity, count: sk - visible) }
                        if let pm {
                            let mRow = pm + bi * ms[0] + hi * ms[1] + i * ms[2]
                            let mj = ms[3]
                            for j in 0..<sk { row[j] += mRow[j * mj] }
                        }
                        softmaxRowInPlace(row, sk, vec)
                    }
                }
                gemm.sgemm(transA: false, transB: false, m: sq, n: dv, k: sk, alpha: 1,
                           a: scores, lda: sk, b: pv + bi * vs[0] + hi * vs[1], ldb: vs[2],
                           beta: 0, c: po + bh * sq * dv, ldc: dv)
            }
            withExtendedLifetime((q.storage, k.storage, v.storage, mc?.storage)) {}
            return out
        }
        // Few queries (cached decoding): one (batch, head, query) row per work item.
        parallelFor(b * h * sq, costPerItem: sk * (d + dv) * 2 + 16) { start, end in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(sk, 1))
            defer { scores.deallocate() }
            for row in start..<end {
                let i = row % sq, bh = row / sq, hi = bh % h, bi = bh / h
                let qRow = pq + bi * qs[0] + hi * qs[1] + i * qs[2]
                let kBase = pk + bi * ks[0] + hi * ks[1]
                let vBase = pv + bi * vs[0] + hi * vs[1]
                let visible = causal ? shift + i + 1 : sk
                for j in 0..<visible { scores[j] = dotRow(qRow, kBase + j * ks[2], d, vec) * s }
                if visible < sk { (scores + visible).update(repeating: -Float.infinity, count: sk - visible) }
                if let pm {
                    let mRow = pm + bi * ms[0] + hi * ms[1] + i * ms[2]
                    let mj = ms[3]
                    if mj == 1 {
                        for j in 0..<sk { scores[j] += mRow[j] }
                    } else {
                        for j in 0..<sk { scores[j] += mRow[j * mj] }
                    }
                }
                softmaxRowInPlace(scores, sk, vec)
                let o = po + row * dv
                for j in 0..<sk {
                    let p = scores[j]
                    if p == 0 { continue }
                    let vRow = vBase + j * vs[2]
                    for c in 0..<dv { o[c] += p * vRow[c] }
                }
            }
        }
        withExtendedLifetime((q.storage, k.storage, v.storage, mc?.storage)) {}
        return out
    }

    /// [batch, seq, heads·headDim] -> [batch, heads, seq, headDim] (a strided view, no copy;
    /// `scaledDotProductAttention` reads it directly).
    public func splitHeads(_ x: Tensor, heads: Int) throws -> Tensor {
        guard x.rank == 3, heads > 0, x.shape[2] % heads == 0 else {
            throw TensorError.invalidArgument(op: "splitHeads", "\(x.shape) into \(heads) heads")
        }
        return try x.reshaped([x.shape[0], x.shape[1], heads, x.shape[2] / heads]).permuted([0, 2, 1, 3])
    }

    /// [batch, heads, seq, headDim] -> [batch, seq, heads·headDim] (contiguous).
    public func mergeHeads(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else {
            throw TensorError.invalidArgument(op: "mergeHeads", "expects [batch, heads, seq, dim], got \(x.shape)")
        }
        return try x.permuted([0, 2, 1, 3]).contiguous().reshaped([x.shape[0], x.shape[2], x.shape[1] * x.shape[3]])
    }
}

/// Errors from the key/value cache.
public enum KVCacheError: Error, CustomStringConvertible, Equatable {
    case layerOutOfRange(layer: Int, layers: Int)
    case shapeMismatch(layer: Int, expected: [Int], actual: [Int])

    public var description: String {
        switch self {
        case .layerOutOfRange(let layer, let layers):
            return "KVCache: layer \(layer) out of range 0..<\(layers)"
        case .shapeMismatch(let layer, let expected, let actual):
            return "KVCache: layer \(layer) expects [batch, heads, *, dim] = \(expected), got \(actual)"
        }
    }
}

/// Cached keys and values of every attention layer, for incremental decoding. A value type: copies
/// are independent (storage is copied on write when shared). Each layer holds
/// keys [batch, heads, length, headDim] and values [batch, heads, length, valueDim] in a buffer that
/// grows geometrically, so appending one token does not copy the whole history.
public struct KVCache: Sendable {
    struct Layer: Sendable {
        var keys: Tensor     // [batch, heads, capacity, headDim]
        var values: Tensor   // [batch, heads, capacity, valueDim]
        var length: Int
    }

    var layers: [Layer?]

    /// Left padding of each batch row (positions 0..<leftPadding[b] are padding), for models that
    /// batch prompts of different lengths; nil when no row is padded. Reordered with the batch.
    public var leftPadding: [Int]?

    /// An empty cache for `layers` attention layers.
    public init(layers: Int) {
        self.layers = Array(repeating: nil, count: max(0, layers))
    }

    public var layerCount: Int { layers.count }

    /// Number of cached positions (of layer 0; all layers agree after a full forward step).
    public var length: Int { layers.first.flatMap { $0?.length } ?? 0 }

    /// Cached positions of one layer (0 when nothing cached yet).
    public func length(layer: Int) -> Int { layers.indices.contains(layer) ? (layers[layer]?.length ?? 0) : 0 }

    /// Appends new keys [batch, heads, t, headDim] and values [batch, heads, t, valueDim] to `layer`
    /// and returns views of everything cached for that layer: [batch, heads, length, dim].
    @discardableResult
    public mutating func append(layer: Int, keys: Tensor, values: Tensor) throws -> (keys: Tensor, values: Tensor) {
        guard layers.indices.contains(layer) else {
            throw KVCacheError.layerOutOfRange(layer: layer, layers: layers.count)
        }
        guard keys.rank == 4, values.rank == 4, keys.shape[0] == values.shape[0],
              keys.shape[1] == values.shape[1], keys.shape[2] == values.shape[2] else {
            throw TensorError.shapeMismatch(op: "KVCache.append", "keys \(keys.shape), values \(values.shape)")
        }
        let b = keys.shape[0], h = keys.shape[1], t = keys.shape[2], dk = keys.shape[3], dv = values.shape[3]
        var entry: Layer
        if let existing = layers[layer] {
            let ek = existing.keys.shape, ev = existing.values.shape
            guard ek[0] == b, ek[1] == h, ek[3] == dk else {
                throw KVCacheError.shapeMismatch(layer: layer, expected: [ek[0], ek[1], -1, ek[3]], actual: keys.shape)
            }
            guard ev[3] == dv else {
                throw KVCacheError.shapeMismatch(layer: layer, expected: [ev[0], ev[1], -1, ev[3]], actual: values.shape)
            }
            entry = existing
        } else {
            entry = Layer(keys: Tensor(zeros: [b, h, 0, dk]), values: Tensor(zeros: [b, h, 0, dv]), length: 0)
        }
        layers[layer] = nil  // drop our reference so the buffers below are uniquely owned
        let needed = entry.length + t
        if needed > entry.keys.shape[2] {
            let capacity = Swift.max(needed, entry.keys.shape[2] * 2, 16)
            entry.keys = KVCache.regrow(entry.keys, length: entry.length, capacity: capacity)
            entry.values = KVCache.regrow(entry.values, length: entry.length, capacity: capacity)
        }
        KVCache.write(&entry.keys, keys, at: entry.length)
        KVCache.write(&entry.values, values, at: entry.length)
        entry.length = needed
        layers[layer] = entry
        return (try entry.keys.narrowed(dim: 2, start: 0, length: needed),
                try entry.values.narrowed(dim: 2, start: 0, length: needed))
    }

    /// Cached keys of `layer`: [batch, heads, length, headDim] (nil when empty).
    public func keys(layer: Int) -> Tensor? {
        guard layers.indices.contains(layer), let e = layers[layer] else { return nil }
        return try? e.keys.narrowed(dim: 2, start: 0, length: e.length)
    }

    /// Cached values of `layer`: [batch, heads, length, valueDim] (nil when empty).
    public func values(layer: Int) -> Tensor? {
        guard layers.indices.contains(layer), let e = layers[layer] else { return nil }
        return try? e.values.narrowed(dim: 2, start: 0, length: e.length)
    }

    /// Reorders (and may repeat or drop) batch entries: entry i of the result is entry
    /// `indices[i]` now. Beam search uses this to follow the surviving beams.
    public mutating func reorder(batch indices: [Int], device: Device) throws {
        if let pad = leftPadding {
            for i in indices where i < 0 || i >= pad.count {
                throw IndexError.outOfRange(op: "KVCache.reorder", index: i, count: pad.count)
            }
            leftPadding = indices.map { pad[$0] }
        }
        for l in layers.indices {
            guard let e = layers[l] else { continue }
            let batch = e.keys.shape[0]
            for i in indices where i < 0 || i >= batch {
                throw IndexError.outOfRange(op: "KVCache.reorder", index: i, count: batch)
            }
            // Beams that all continue themselves: nothing moves.
            if indices.count == batch && indices.indices.allSatisfy({ indices[$0] == $0 }) { continue }
            layers[l] = Layer(keys: KVCache.gather(e.keys, rows: indices, length: e.length),
                              values: KVCache.gather(e.values, rows: indices, length: e.length),
                              length: e.length)
        }
    }

    /// Rows `rows` of a [batch, heads, capacity, d] buffer at the same capacity, copying only the first
    /// `length` positions (the rest of the capacity is not read before being written).
    private static func gather(_ buffer: Tensor, rows: [Int], length: Int) -> Tensor {
        let s = buffer.shape
        let heads = s[1], cap = s[2], d = s[3]
        let out = Tensor(zeros: [rows.count, heads, cap, d])
        let src = buffer.contiguousPointer, dst = out.contiguousPointer
        for (i, r) in rows.enumerated() {
            for h in 0..<heads {
                (dst + ((i * heads + h) * cap) * d).update(from: src + ((r * heads + h) * cap) * d, count: length * d)
            }
        }
        withExtendedLifetime(buffer.storage) {}
        return out
    }

    private static func regrow(_ buffer: Tensor, length: Int, capacity: Int) -> Tensor {
        let s = buffer.shape
        let out = Tensor(zeros: [s[0], s[1], capacity, s[3]])
        if length > 0 {
            let src = buffer.contiguousPointer, dst = out.contiguousPointer
            let d = s[3], oldCap = s[2]
            for bh in 0..<(s[0] * s[1]) {
                (dst + bh * capacity * d).update(from: src + bh * oldCap * d, count: length * d)
            }
        }
        return out
    }

    private static func write(_ buffer: inout Tensor, _ new: Tensor, at position: Int) {
        let nc = new.contiguous()
        let s = buffer.shape
        let t = new.shape[2], d = s[3], cap = s[2]
        buffer.withUnsafeMutableBufferPointer { dst in
            guard let base = dst.baseAddress else { return }
            let src = nc.contiguousPointer
            for bh in 0..<(s[0] * s[1]) {
                (base + (bh * cap + position) * d).update(from: src + bh * t * d, count: t * d)
            }
        }
    }
}
