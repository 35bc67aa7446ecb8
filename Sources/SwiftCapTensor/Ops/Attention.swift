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
    /// - keyRows: keys/values laid out by a reordered `KVCache` (`CachedKeysValues.rows`): batch row b reads
    ///   key position t from row `keyRows[b][t]` of `key` and `value`, which may then hold more rows than the batch.
    public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
                                          causal: Bool = false, scale: Float? = nil, keyRows: [[Int32]]? = nil) throws -> Tensor {
        try scaledDotProductAttention(query: query, key: key, value: value, mask: mask, causal: causal, scale: scale,
                                      keyRows: keyRows, vectorized: vectorKernelsByDefault)
    }

    /// Attention over what a `KVCache` returned for this layer.
    public func scaledDotProductAttention(query: Tensor, cached: CachedKeysValues, mask: Tensor? = nil,
                                          causal: Bool = false, scale: Float? = nil) throws -> Tensor {
        try scaledDotProductAttention(query: query, key: cached.keys, value: cached.values, mask: mask, causal: causal,
                                      scale: scale, keyRows: cached.rows, vectorized: vectorKernelsByDefault)
    }

    func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor?, causal: Bool, scale: Float?,
                                   keyRows: [[Int32]]? = nil, vectorized vec: Bool) throws -> Tensor {
        guard query.rank == 4, key.rank == 4, value.rank == 4 else {
            throw TensorError.invalidArgument(op: "attention", "q, k, v must be rank 4 [batch, heads, seq, dim]; got \(query.shape), \(key.shape), \(value.shape)")
        }
        let b = query.shape[0], h = query.shape[1], sq = query.shape[2], d = query.shape[3]
        let sk = key.shape[2], dv = value.shape[3]
        let kb = keyRows == nil ? b : key.shape[0]   // rows of the key/value tensors
        guard key.shape == [kb, h, sk, d], value.shape[0] == kb, value.shape[1] == h, value.shape[2] == sk else {
            throw TensorError.shapeMismatch(op: "attention", "q \(query.shape), k \(key.shape), v \(value.shape)")
        }
        // Row of key/value that batch row bi reads at position j.
        var rowTable: [Int] = []
        if let keyRows {
            guard keyRows.count == b, keyRows.allSatisfy({ $0.count == sk && $0.allSatisfy { $0 >= 0 && Int($0) < kb } }) else {
                throw TensorError.shapeMismatch(op: "attention", "key rows for \(keyRows.count) batch rows x \(keyRows.first?.count ?? 0) positions; need \(b) x \(sk) within \(kb) rows")
            }
            rowTable = keyRows.flatMap { $0.map(Int.init) }
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
            // With key rows, each (batch row, head)'s keys and values are gathered first.
            let kTmp = rowTable.isEmpty ? nil : UnsafeMutablePointer<Float>.allocate(capacity: sk * d)
            let vTmp = rowTable.isEmpty ? nil : UnsafeMutablePointer<Float>.allocate(capacity: sk * dv)
            defer { kTmp?.deallocate(); vTmp?.deallocate() }
            for bh in 0..<(b * h) {
                let bi = bh / h, hi = bh % h
                var kPtr = pk + bi * ks[0] + hi * ks[1], ldk = ks[2]
                var vPtr = pv + bi * vs[0] + hi * vs[1], ldv = vs[2]
                if let kTmp, let vTmp {
                    for j in 0..<sk {
                        let r = rowTable[bi * sk + j]
                        (kTmp + j * d).update(from: pk + r * ks[0] + hi * ks[1] + j * ks[2], count: d)
                        (vTmp + j * dv).update(from: pv + r * vs[0] + hi * vs[1] + j * vs[2], count: dv)
                    }
                    (kPtr, ldk, vPtr, ldv) = (UnsafePointer(kTmp), d, UnsafePointer(vTmp), dv)
                }
                gemm.sgemm(transA: false, transB: true, m: sq, n: sk, k: d, alpha: s,
                           a: pq + bi * qs[0] + hi * qs[1], lda: qs[2], b: kPtr, ldb: ldk,
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
                           a: scores, lda: sk, b: vPtr, ldb: ldv,
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
                if rowTable.isEmpty {
                    for j in 0..<visible { scores[j] = dotRow(qRow, kBase + j * ks[2], d, vec) * s }
                } else {
                    for j in 0..<visible {
                        let r = rowTable[bi * sk + j]
                        scores[j] = dotRow(qRow, pk + r * ks[0] + hi * ks[1] + j * ks[2], d, vec) * s
                    }
                }
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
                    let vRow = rowTable.isEmpty ? vBase + j * vs[2] : pv + rowTable[bi * sk + j] * vs[0] + hi * vs[1] + j * vs[2]
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

/// What `KVCache.append` returns for one layer: every cached position's keys and values, and (after beam
/// reorders) which physical row of them each batch row reads at each position.
public struct CachedKeysValues: Sendable {
    /// [rows, heads, length, headDim]
    public var keys: Tensor
    /// [rows, heads, length, valueDim]
    public var values: Tensor
    /// nil: batch row b is row b of `keys`/`values`; else `rows[b][t]`, for every batch row b and position t.
    public var rows: [[Int32]]?
}

/// Cached keys and values of every attention layer, for incremental decoding. A value type: copies
/// are independent (storage is copied on write when shared). Each layer holds
/// keys [batch, heads, length, headDim] and values [batch, heads, length, valueDim] in a buffer that
/// grows geometrically, so appending one token does not copy the whole history.
public struct KVCache: Sendable {
    struct Layer: Sendable {
        var keys: Tensor     // [physical rows, heads, capacity, headDim]
        var values: Tensor   // [physical rows, heads, capacity, valueDim]
        var length: Int
        /// Beam reorders are not copied: `rows[b][t]` is the physical row holding logical row b's position t
        /// (nil: row b is physical row b everywhere). Position t < length of a physical row is never
        /// written again, and logical row b writes its new positions into physical row b, so reordering
        /// only permutes these small index lists.
        var rows: [[Int32]]? = nil

        var batch: Int { rows?.count ?? keys.shape[0] }
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
    /// and returns everything cached for that layer: keys [rows, heads, length, headDim] and values, with
    /// `rows` nil when row b of the batch is row b of the tensors, else the physical row of every (batch row,
    /// position) after beam reorders; pass it to `scaledDotProductAttention(keyRows:)`.
    @discardableResult
    public mutating func append(layer: Int, keys: Tensor, values: Tensor) throws -> CachedKeysValues {
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
            guard existing.batch == b, ek[1] == h, ek[3] == dk else {
                throw KVCacheError.shapeMismatch(layer: layer, expected: [existing.batch, ek[1], -1, ek[3]], actual: keys.shape)
            }
            guard ev[3] == dv else {
                throw KVCacheError.shapeMismatch(layer: layer, expected: [existing.batch, ev[1], -1, ev[3]], actual: values.shape)
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
        if entry.rows != nil {
            for r in 0..<b { entry.rows![r].append(contentsOf: repeatElement(Int32(r), count: t)) }
        }
        entry.length = needed
        layers[layer] = entry
        return CachedKeysValues(keys: try entry.keys.narrowed(dim: 2, start: 0, length: needed),
                                values: try entry.values.narrowed(dim: 2, start: 0, length: needed), rows: entry.rows)
    }

    /// Cached keys of `layer`: [batch, heads, length, headDim] in batch order (nil when empty).
    public func keys(layer: Int) -> Tensor? {
        guard layers.indices.contains(layer), let e = layers[layer] else { return nil }
        if let rows = e.rows { return KVCache.gather(e.keys, rows: rows, length: e.length, capacity: e.length) }
        return try? e.keys.narrowed(dim: 2, start: 0, length: e.length)
    }

    /// Cached values of `layer`: [batch, heads, length, valueDim] in batch order (nil when empty).
    public func values(layer: Int) -> Tensor? {
        guard layers.indices.contains(layer), let e = layers[layer] else { return nil }
        if let rows = e.rows { return KVCache.gather(e.values, rows: rows, length: e.length, capacity: e.length) }
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
            guard var e = layers[l] else { continue }
            let batch = e.batch
            for i in indices where i < 0 || i >= batch {
                throw IndexError.outOfRange(op: "KVCache.reorder", index: i, count: batch)
            }
            // Beams that all continue themselves: nothing moves.
            if indices.count == batch && indices.indices.allSatisfy({ indices[$0] == $0 }) { continue }
            let current = e.rows ?? (0..<batch).map { Array(repeating: Int32($0), count: e.length) }
            let rows = indices.map { current[$0] }
            if indices.count <= e.keys.shape[0] {
                // Logical row b keeps writing into physical row b: only the index lists move.
                e.rows = rows
                layers[l] = e
            } else {
                // More rows than the buffers hold (a prompt fanned out to its beams): copy into new buffers.
                let cap = e.keys.shape[2]
                layers[l] = Layer(keys: KVCache.gather(e.keys, rows: rows, length: e.length, capacity: cap),
                                  values: KVCache.gather(e.values, rows: rows, length: e.length, capacity: cap),
                                  length: e.length)
            }
        }
    }

    /// A [rows.count, heads, capacity, d] buffer whose row b, position t < length is position t of physical row
    /// rows[b][t] of `buffer` (the rest of the capacity is not read before being written).
    static func gather(_ buffer: Tensor, rows: [[Int32]], length: Int, capacity: Int) -> Tensor {
        let s = buffer.shape
        let heads = s[1], cap = s[2], d = s[3]
        let out = Tensor(zeros: [rows.count, heads, capacity, d])
        let src = buffer.contiguousPointer, dst = out.contiguousPointer
        for (i, map) in rows.enumerated() {
            for h in 0..<heads {
                let o = dst + ((i * heads + h) * capacity) * d
                var t = 0
                while t < length {
                    // Runs of positions from one physical row are copied at once.
                    let r = Int(map[t])
                    var end = t + 1
                    while end < length && map[end] == map[t] { end += 1 }
                    (o + t * d).update(from: src + ((r * heads + h) * cap + t) * d, count: (end - t) * d)
                    t = end
                }
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
            // Rows 0..<new.shape[0] (a reordered cache may hold more physical rows than its batch).
            for bh in 0..<(new.shape[0] * s[1]) {
                (base + (bh * cap + position) * d).update(from: src + bh * t * d, count: t * d)
            }
        }
    }
}
