import Foundation
import SwiftCapTensor

/// Quantize-then-dequantize of weights, for measuring what a weight format costs in quality on models whose
/// kernels stay fp32 (the conv nets, the Llama decoder): the model computes in fp32 on weights that hold exactly
/// the values f16 / int8 / q4 storage would give back. Time is unchanged by it; only quality moves.
///
/// A tensor of any rank is treated as the matrix [shape[0], rest] (a conv weight [out, in, kh, kw] as
/// [out, in·kh·kw]): int8 has one scale per row (output channel), q4 one per group of 32 along the row (rows whose
/// length is not a multiple of 32, e.g. depthwise 3×3 kernels, fall back to int8), f16 rounds every element.
public enum WeightRoundTrip {
    /// What one tensor became.
    public struct Outcome: Sendable {
        public var tensor: Tensor
        /// Bytes the format stores for it (data plus scales).
        public var storedBytes: Int
        /// "f32", "f16", "int8" or "q4" (q4 requested but stored int8 reads "int8").
        public var storedAs: String
    }

    /// `weight` as `target` would store it, back in fp32.
    public static func apply(_ weight: Tensor, target: QuantizeTarget, device: Device) throws -> Outcome {
        let n = weight.count
        guard weight.rank >= 2, n > 0 else { return Outcome(tensor: weight, storedBytes: n * 4, storedAs: "f32") }
        switch target {
        case .f32:
            return Outcome(tensor: weight, storedBytes: n * 4, storedAs: "f32")
        case .f16:
            let back = float16Bits(weight).map { roundTripHalfToFloat($0) }
            return Outcome(tensor: Tensor(back, shape: weight.shape), storedBytes: n * 2, storedAs: "f16")
        case .int8, .q4:
            let rows = weight.shape[0], cols = n / rows
            let matrix = try weight.contiguous().reshaped([rows, cols])
            let scheme: QuantScheme = target == .q4 && QuantScheme.q4.supports(rows: rows, columns: cols) ? .q4 : .int8
            let q = try QuantizedMatrix(quantizing: matrix, scheme: scheme, device: device)
            let back = try q.dequantized(device: device).reshaped(weight.shape)
            return Outcome(tensor: back, storedBytes: q.storedBytes, storedAs: scheme.rawValue)
        }
    }
}

/// f16 bits -> f32 (the same conversion the quantized checkpoints use).
@inline(__always) private func roundTripHalfToFloat(_ h: UInt16) -> Float { Float(Float16(bitPattern: h)) }

/// A tensor source whose weight tensors read back quantize-dequantized (`WeightRoundTrip`), with a tally of
/// what was changed. A tensor counts as a weight when `isWeight(name, info)` says so (default: rank ≥ 2 and at
/// least `minElements` elements).
public final class RoundTripQuantizedSource: TensorSource, @unchecked Sendable {
    public struct Tally: Sendable, Equatable {
        /// Tensors read back changed, and their elements.
        public var tensors = 0, parameters = 0
        /// Of those, how many q4 requests fell back to int8.
        public var int8Fallbacks = 0
        /// Bytes of every tensor loaded, as the format would store it (others at 4 bytes per element).
        public var storedBytes = 0
        /// fp32 bytes of every tensor loaded.
        public var fp32Bytes = 0
    }

    public let base: any TensorSource
    public let target: QuantizeTarget
    let device: Device
    let isWeight: @Sendable (String, TensorInfo) -> Bool
    private let lock = NSLock()
    private var _tally = Tally()

    public init(_ base: any TensorSource, to target: QuantizeTarget, minElements: Int = 4096, device: Device,
                isWeight: (@Sendable (String, TensorInfo) -> Bool)? = nil) {
        self.base = base
        self.target = target
        self.device = device
        self.isWeight = isWeight ?? { _, info in info.shape.count >= 2 && info.shape.reduce(1, *) >= minElements }
    }

    public var tally: Tally { lock.lock(); defer { lock.unlock() }; return _tally }
    public var sourceDescription: String { "\(base.sourceDescription) (\(target.rawValue) round trip)" }
    public var tensorNames: [String] { base.tensorNames }
    public func tensorInfo(_ name: String) -> TensorInfo? { base.tensorInfo(name) }

    public func loadTensor(_ name: String) throws -> Tensor {
        let t = try base.loadTensor(name)
        let weight = base.tensorInfo(name).map { isWeight(name, $0) } ?? false
        let out = weight ? try WeightRoundTrip.apply(t, target: target, device: device)
            : WeightRoundTrip.Outcome(tensor: t, storedBytes: t.count * 4, storedAs: "f32")
        lock.lock()
        _tally.fp32Bytes += t.count * 4
        _tally.storedBytes += out.storedBytes
        if weight && target != .f32 {
            _tally.tensors += 1
            _tally.parameters += t.count
            if target == .q4 && out.storedAs == "int8" { _tally.int8Fallbacks += 1 }
        }
        lock.unlock()
        return out.tensor
    }
}
