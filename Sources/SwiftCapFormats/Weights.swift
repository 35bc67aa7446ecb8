import Foundation
import SwiftCapTensor

/// What a checkpoint says about one tensor before it is loaded.
public struct TensorInfo: Sendable, Equatable {
    /// The stored element type as the format names it ("F32", "F16", "BF16", "Q4_K", "float32", …).
    public var dtype: String
    public var shape: [Int]
    public init(dtype: String, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }
}

/// A checkpoint (or several merged) whose tensors are addressed by their original names.
public protocol TensorSource: Sendable {
    /// Names the file(s) in error messages.
    var sourceDescription: String { get }
    /// All tensor names, in file order where the format has one.
    var tensorNames: [String] { get }
    func tensorInfo(_ name: String) -> TensorInfo?
    /// The tensor as fp32 (dequantized when stored otherwise; zero-copy where the format allows).
    func loadTensor(_ name: String) throws -> Tensor
}

/// Errors binding a model to a checkpoint; each names the tensor and the checkpoint.
public enum WeightError: Error, CustomStringConvertible, Equatable {
    case missing(name: String, source: String)
    case shapeMismatch(name: String, expected: [Int], actual: [Int], source: String)
    case unsupportedDType(name: String, dtype: String, source: String)

    public var description: String {
        switch self {
        case .missing(let name, let source):
            return "tensor '\(name)' is missing from \(source)"
        case .shapeMismatch(let name, let expected, let actual, let source):
            return "tensor '\(name)' in \(source) has shape \(actual), expected \(expected)"
        case .unsupportedDType(let name, let dtype, let source):
            return "tensor '\(name)' in \(source) has unsupported dtype \(dtype)"
        }
    }
}

/// A view of a tensor source under a key prefix, so modules bind weights by the checkpoint's own
/// key paths: `Weights(source).pp("encoder").pp("layers.0").tensor("fc1.weight", shape: [3072, 768])`.
public struct Weights: Sendable {
    public let source: any TensorSource
    public let prefix: String

    public init(_ source: any TensorSource, prefix: String = "") {
        self.source = source
        self.prefix = prefix
    }

    /// A child view: `pp("layer_norm1")` under prefix "encoder" is "encoder.layer_norm1".
    public func pp(_ component: String) -> Weights {
        Weights(source, prefix: key(component))
    }

    public func pp(_ index: Int) -> Weights { pp(String(index)) }

    /// The full key of `name` under this prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    public func contains(_ name: String) -> Bool { source.tensorInfo(key(name)) != nil }

    /// Loads `name` (relative to the prefix) as fp32, checking its shape when `shape` is given.
    public func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        let full = key(name)
        guard let info = source.tensorInfo(full) else {
            throw WeightError.missing(name: full, source: source.sourceDescription)
        }
        if let shape, info.shape != shape {
            throw WeightError.shapeMismatch(name: full, expected: shape, actual: info.shape, source: source.sourceDescription)
        }
        return try source.loadTensor(full)
    }
}

/// Tensors held in memory by name (tests, random-weight models, merged sources).
public struct InMemoryTensors: TensorSource {
    public var tensors: [String: Tensor]
    public var sourceDescription: String

    public init(_ tensors: [String: Tensor], description: String = "in-memory tensors") {
        self.tensors = tensors
        self.sourceDescription = description
    }

    public var tensorNames: [String] { tensors.keys.sorted() }
    public func tensorInfo(_ name: String) -> TensorInfo? {
        tensors[name].map { TensorInfo(dtype: "F32", shape: $0.shape) }
    }
    public func loadTensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw WeightError.missing(name: name, source: sourceDescription) }
        return t
    }
}

/// A tensor source that remembers which tensors a model loaded, so a caller can tell what in a checkpoint
/// went unused (`swiftcap caption --strict`, the published-shape tests): wrap the checkpoint, build the
/// model from the wrapper, then read `loadedNames` / `unusedNames`. Only `loadTensor` counts as a use;
/// looking a name up (`tensorInfo`, `Weights.contains`) does not.
public final class RecordingTensorSource: TensorSource, @unchecked Sendable {
    public let base: any TensorSource
    private let lock = NSLock()
    private var loaded: Set<String> = []

    public init(_ base: any TensorSource) { self.base = base }

    public var sourceDescription: String { base.sourceDescription }
    public var tensorNames: [String] { base.tensorNames }
    public func tensorInfo(_ name: String) -> TensorInfo? { base.tensorInfo(name) }
    public func loadTensor(_ name: String) throws -> Tensor {
        let t = try base.loadTensor(name)
        lock.lock(); loaded.insert(name); lock.unlock()
        return t
    }

    private func record(_ name: String) { lock.lock(); loaded.insert(name); lock.unlock() }

    /// Names loaded so far.
    public var loadedNames: Set<String> {
        lock.lock(); defer { lock.unlock() }
        return loaded
    }

    /// The checkpoint's names that were never loaded, in the checkpoint's order.
    public var unusedNames: [String] {
        let used = loadedNames
        return base.tensorNames.filter { !used.contains($0) }
    }
}

/// A quantized checkpoint stays quantized through the recorder (a matrix handed out counts as loaded).
extension RecordingTensorSource: QuantizedMatrixSource {
    public func quantizedMatrix(_ name: String) throws -> QuantizedMatrix? {
        guard let q = try (base as? QuantizedMatrixSource)?.quantizedMatrix(name) else { return nil }
        record(name)
        return q
    }
    public func halfPrecisionMatrix(_ name: String) throws -> QuantizedMatrix? {
        guard let q = try (base as? QuantizedMatrixSource)?.halfPrecisionMatrix(name) else { return nil }
        record(name)
        return q
    }
}
