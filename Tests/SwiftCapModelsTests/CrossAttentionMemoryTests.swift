import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
import SwiftCapModels

/// Beams share their image's cross-attention keys/values: attending in groups equals attending with one
/// copy per row, a reorder within images copies nothing, and one across images falls back to copies.
final class CrossAttentionMemoryTests: XCTestCase {
    let device = Device(threads: 2)

    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in rng.nextFloat() * 2 - 1 }, shape: shape)
    }

    func testGroupedAttentionEqualsPerRowCopies() throws {
        let images = 2, heads = 3, tokens = 7, dk = 4
        let keys = [random([images, heads, tokens, dk], seed: 1)], values = [random([images, heads, tokens, 5], seed: 2)]
        var memory = CrossAttentionMemory(keys: keys, values: values)
        // Prompt rows (one per image), then 3 beams per image, then a reorder within each image.
        for (rows, seq) in [([0, 0, 0, 1, 1, 1], 1), ([2, 0, 0, 5, 3, 4], 2)] {
            try memory.reorder(rows: rows, device: device)
            XCTAssertEqual(memory.rowsPerImage, 3)
            XCTAssertEqual(memory.keys[0].shape[0], images, "keys stay one per image")
            let q = random([6, heads, seq, dk], seed: UInt64(10 + seq))
            let got = try memory.attend(query: q, layer: 0, device: device)
            let perRow = (0..<6).map { $0 / 3 }
            let want = try device.scaledDotProductAttention(query: q, key: device.indexSelect(keys[0], dim: 0, indices: perRow),
                                                            value: device.indexSelect(values[0], dim: 0, indices: perRow))
            XCTAssertEqual(got.shape, [6, heads, seq, 5])
            XCTAssertLessThan(try got.maxAbsDifference(want), 1e-6)
        }
        // Rows moving to another image: per-row copies, still the right image for each row.
        try memory.reorder(rows: [3, 0, 1, 2, 4, 5], device: device)
        XCTAssertEqual(memory.rowsPerImage, 1)
        XCTAssertEqual(memory.keys[0].shape[0], 6)
        let q = random([6, heads, 1, dk], seed: 20)
        let source = [1, 0, 0, 0, 1, 1]
        let want = try device.scaledDotProductAttention(query: q, key: device.indexSelect(keys[0], dim: 0, indices: source),
                                                        value: device.indexSelect(values[0], dim: 0, indices: source))
        XCTAssertLessThan(try memory.attend(query: q, layer: 0, device: device).maxAbsDifference(want), 1e-6)
        XCTAssertThrowsError(try memory.reorder(rows: [6], device: device))
        XCTAssertThrowsError(try memory.attend(query: random([5, heads, 1, dk], seed: 3), layer: 0, device: device))
    }
}
