import Foundation
import XCTest
@testable import SwiftCapFormats
import SwiftCapTensor

/// `WeightRoundTrip` / `RoundTripQuantizedSource` (the quantize-dequantize behind `bench quant-quality`).
final class RoundTripQuantizationTests: XCTestCase {
    let device = Device(threads: 1)

    func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in rng.nextFloat() - 0.5 }, shape: shape)
    }

    /// A conv weight [out, in, kh, kw] is int8-quantized per output channel: each value comes back as
    /// round(w / s) · s with s = max |w| of its output channel / 127 (computed here independently).
    func testInt8RoundTripOfAConvWeightIsPerOutputChannel() throws {
        let w = randomTensor([4, 3, 3, 3], seed: 1)
        let o = try WeightRoundTrip.apply(w, target: .int8, device: device)
        XCTAssertEqual(o.tensor.shape, w.shape)
        XCTAssertEqual(o.storedAs, "int8")
        XCTAssertEqual(o.storedBytes, 4 * 27 + 4 * 4)
        let x = w.scalars, y = o.tensor.scalars
        for r in 0..<4 {
            let row = x[(r * 27)..<((r + 1) * 27)]
            let s = (row.map(abs).max() ?? 0) / 127
            for i in row.indices {
                XCTAssertEqual(y[i], (row[i] / s).rounded() * s, accuracy: s * 1e-3)
            }
        }
    }

    func testQ4FallsBackToInt8ForRowsThatAreNotGroupsOf32() throws {
        let depthwise = try WeightRoundTrip.apply(randomTensor([8, 1, 3, 3], seed: 2), target: .q4, device: device)
        XCTAssertEqual(depthwise.storedAs, "int8")
        let w = randomTensor([2, 64], seed: 3)
        let q4 = try WeightRoundTrip.apply(w, target: .q4, device: device)
        XCTAssertEqual(q4.storedAs, "q4")
        XCTAssertEqual(q4.storedBytes, 2 * 32 + 2 * 2 * 2)
        XCTAssertLessThan(try q4.tensor.maxAbsDifference(w), 0.5 / 7 + 1e-3)
        XCTAssertGreaterThan(try q4.tensor.maxAbsDifference(w), 0)
    }

    func testF16RoundsEveryElementAndF32KeepsThem() throws {
        let w = Tensor([1.0 / 3, 1e-3, -2.5, 65504], shape: [2, 2])
        let h = try WeightRoundTrip.apply(w, target: .f16, device: device)
        XCTAssertEqual(h.tensor.scalars, w.scalars.map { Float(Float16($0)) })
        XCTAssertEqual(h.storedBytes, 8)
        XCTAssertEqual(try WeightRoundTrip.apply(w, target: .f32, device: device).tensor.scalars, w.scalars)
        let bias = Tensor([1.0 / 3], shape: [1])
        XCTAssertEqual(try WeightRoundTrip.apply(bias, target: .int8, device: device).tensor.scalars, bias.scalars)
    }

    func testSourceChangesOnlyWeightsAndTalliesThem() throws {
        let w = randomTensor([64, 64], seed: 4), b = randomTensor([64], seed: 5), small = randomTensor([2, 2], seed: 6)
        let base = InMemoryTensors(["w": w, "b": b, "small": small])
        let src = RoundTripQuantizedSource(base, to: .int8, minElements: 4096, device: device)
        XCTAssertEqual(try src.loadTensor("b").scalars, b.scalars)
        XCTAssertEqual(try src.loadTensor("small").scalars, small.scalars)
        XCTAssertNotEqual(try src.loadTensor("w").scalars, w.scalars)
        let t = src.tally
        XCTAssertEqual(t.tensors, 1)
        XCTAssertEqual(t.parameters, 4096)
        XCTAssertEqual(t.fp32Bytes, (4096 + 64 + 4) * 4)
        XCTAssertEqual(t.storedBytes, 4096 + 64 * 4 + (64 + 4) * 4)
    }
}
