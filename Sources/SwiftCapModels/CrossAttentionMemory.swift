import Foundation
import SwiftCapTensor

/// Cross-attention keys and values of an encoder-decoder captioner (BLIP, SmallCap), computed once per
/// image and shared by every decoder row of that image.
///
/// Beam search runs `beams` decoder rows per image; their cross-attention reads the same image tokens. The
/// keys/values stay [images, heads, tokens, headDim] and the rows of one image are attended as one group:
/// queries [images · g, heads, seq, headDim] are regrouped to [images, heads, g · seq, headDim] (cross-attention
/// has no mask, so each query position is independent). Reordering beams within an image therefore copies
/// nothing here; only a reorder that moves rows across images (never done by `Generator`) expands the
/// memory to one copy per row.
public struct CrossAttentionMemory: Sendable {
    /// Per decoder layer: [images, heads, tokens, headDim].
    public private(set) var keys: [Tensor]
    public private(set) var values: [Tensor]
    /// Decoder rows per image (rows i·g ..< (i+1)·g read image i).
    public private(set) var rowsPerImage: Int

    public init(keys: [Tensor], values: [Tensor]) {
        self.keys = keys
        self.values = values
        rowsPerImage = 1
    }

    public var images: Int { keys.first?.shape[0] ?? 0 }
    /// Decoder rows this memory serves.
    public var rows: Int { images * rowsPerImage }

    /// Follows a reorder of the decoder rows: new row i continues old row `rows[i]`.
    public mutating func reorder(rows newRows: [Int], device: Device) throws {
        let images = self.images, g = rowsPerImage
        for r in newRows where r < 0 || r >= images * g {
            throw IndexError.outOfRange(op: "CrossAttentionMemory.reorder", index: r, count: images * g)
        }
        if images > 0, newRows.count % images == 0 {
            let ng = newRows.count / images
            if newRows.indices.allSatisfy({ newRows[$0] / g == $0 / ng }) {
                rowsPerImage = ng
                return
            }
        }
        // Rows moved across images: one copy of the image's keys/values per row.
        let source = newRows.map { $0 / g }
        keys = try keys.map { try device.indexSelect($0, dim: 0, indices: source) }
        values = try values.map { try device.indexSelect($0, dim: 0, indices: source) }
        rowsPerImage = 1
    }

    /// Cross-attention of layer `layer`: queries [rows, heads, seq, headDim] -> [rows, heads, seq, valueDim].
    public func attend(query q: Tensor, layer: Int, device: Device) throws -> Tensor {
        guard keys.indices.contains(layer), q.rank == 4, q.shape[0] == rows else {
            throw TensorError.shapeMismatch(op: "CrossAttentionMemory.attend",
                                            "query \(q.shape) for \(images) images x \(rowsPerImage) rows, layer \(layer) of \(keys.count)")
        }
        let g = rowsPerImage
        if g == 1 { return try device.scaledDotProductAttention(query: q, key: keys[layer], value: values[layer]) }
        let h = q.shape[1], seq = q.shape[2], dk = q.shape[3]
        // [images·g, h, seq, dk] -> [images, h, g·seq, dk]
        let grouped = try q.reshaped([images, g, h, seq, dk]).permuted([0, 2, 1, 3, 4]).contiguous()
            .reshaped([images, h, g * seq, dk])
        let o = try device.scaledDotProductAttention(query: grouped, key: keys[layer], value: values[layer])
        let dv = o.shape[3]
        return try o.reshaped([images, h, g, seq, dv]).permuted([0, 2, 1, 3, 4]).contiguous().reshaped([images * g, h, seq, dv])
    }
}
