import Foundation
import SwiftCapTensor

/// Any checkpoint seen as if `swiftcap quantize --to <target>` had converted it, without writing a file:
/// rank-2 tensors with at least `minElements` elements (the weight matrices) are handed out as f16, int8
/// or q4 `QuantizedMatrix`es, so a model bound through `Weights.linearWeight` / `.conv1DWeight` keeps them
/// quantized in memory; every other tensor passes through as fp32.
///
/// A matrix a model reads with `loadTensor` instead (a position-embedding table, a convolution kernel
/// reshaped from rank 2) is quantized and dequantized again, so it carries exactly the rounding a file
/// written by `CheckpointQuantizer` with the same target would carry (for f16, every tensor is rounded to half
/// precision, as such a file stores biases and norms in F16 too). Matrices the base already holds
/// quantized (a `QuantizedCheckpoint`) are passed on unchanged.
///
/// Each matrix is quantized once and cached until the source is released; build the model, then drop the
/// source so that only the model's quantized matrices stay in memory.
public final class QuantizingTensorSource: TensorSource, QuantizedMatrixSource, @unchecked Sendable {
    public let base: any TensorSource
    public let target: QuantizeTarget
    public let minElements: Int
    private let device: Device
    private let lock = NSLock()
    private var cache: [String: QuantizedMatrix] = [:]

    /// - target: `.f32` passes everything through unchanged.
    public init(_ base: any TensorSource, to target: QuantizeTarget, minElements: Int = 4096, device: Device) {
        self.base = base
        self.target = target
        self.minElements = minElements
        self.device = device
    }

    public var sourceDescription: String { "\(base.sourceDescription) (\(target.rawValue) in memory)" }
    public var tensorNames: [String] { base.tensorNames }
    public func tensorInfo(_ name: String) -> TensorInfo? { base.tensorInfo(name) }

    /// The scheme `name` is held in, or nil when it stays fp32.
    public func scheme(of name: String) -> QuantScheme? {
        let scheme: QuantScheme
        switch target {
        case .f32: return nil
        case .f16: scheme = .f16
        case .int8: scheme = .int8
        case .q4: scheme = .q4
        }
        guard let info = base.tensorInfo(name), info.shape.count == 2,
              info.shape[0] * info.shape[1] >= minElements,
              scheme.supports(rows: info.shape[0], columns: info.shape[1]) else { return nil }
        return scheme
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        if let q = try held(name) { return q.dequantized(device: device) }
        let t = try base.loadTensor(name)
        // An f16 file stores every tensor in half precision (biases and norms too): round the same way.
        guard target == .f16, t.count > 0 else { return t }
        let half = try QuantizedMatrix(quantizing: t.reshaped([1, t.count]), scheme: .f16, device: device)
        return try half.dequantized(device: device).reshaped(t.shape)
    }

    public func quantizedMatrix(_ name: String) throws -> QuantizedMatrix? {
        if let q = try (base as? QuantizedMatrixSource)?.quantizedMatrix(name) { return q }
        guard let q = try held(name), q.scheme != .f16 else { return nil }
        return q
    }

    public func halfPrecisionMatrix(_ name: String) throws -> QuantizedMatrix? {
        if let q = try (base as? QuantizedMatrixSource)?.halfPrecisionMatrix(name) { return q }
        guard let q = try held(name), q.scheme == .f16 else { return nil }
        return q
    }

    /// `name` quantized (cached), or nil when it stays fp32.
    private func held(_ name: String) throws -> QuantizedMatrix? {
        if let base = base as? QuantizedMatrixSource, try base.quantizedMatrix(name) != nil { return nil }
        guard let scheme = scheme(of: name) else { return nil }
        lock.lock()
        if let q = cache[name] { lock.unlock(); return q }
        lock.unlock()
        let q: QuantizedMatrix
        do {
            q = try QuantizedMatrix(quantizing: base.loadTensor(name), scheme: scheme, device: device)
        } catch let error as QuantError {
            throw FormatError.badTensor(file: base.sourceDescription, name: name, detail: error.description)
        }
        lock.lock()
        cache[name] = q
        lock.unlock()
        return q
    }

    /// Bytes of the matrices quantized so far (data plus scales).
    public var quantizedBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return cache.values.reduce(0) { $0 + $1.data.count + $1.scales.count * 4 }
    }

    /// Number of matrices quantized so far and their element count.
    public var quantizedCount: (matrices: Int, elements: Int) {
        lock.lock(); defer { lock.unlock() }
        return (cache.count, cache.values.reduce(0) { $0 + $1.rows * $1.columns })
    }
}
