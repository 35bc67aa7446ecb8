import Foundation
import SwiftCapTensor

/// A safetensors checkpoint written by `swiftcap quantize` (`CheckpointQuantizer`).
///
/// Naming convention (a plain safetensors file; other readers see the raw parts):
/// - `__metadata__["swiftcap.quantization"]` = `f32` | `f16` | `int8` | `q4` marks the file;
///   `swiftcap.q4_group_size` = `32`; `swiftcap.pruned_fraction` when magnitude pruning was applied.
/// - an int8 matrix `name` [rows, cols]: `name` as `I8` [rows, cols] plus `name.__scale` as `F32` [rows]
///   (w ~= scale[row] * q);
/// - a q4 matrix `name` [rows, cols] (cols % 32 == 0): `name` as `U8` [rows, cols / 2] (per group of
///   32 columns, byte j = element j in the low nibble, element 16 + j in the high nibble, each q + 8)
///   plus `name.__scale` as `F16` [rows, cols / 32];
/// - every other tensor is stored as F32 or F16 under its own name.
///
/// As a `TensorSource` it hides the `.__scale` companions and returns quantized matrices
/// dequantized to fp32 with their logical shape, so existing models load it unchanged;
/// `quantizedMatrix(_:)` exposes the quantized form for `Device.linear(_:weight:bias:)`.
public struct QuantizedCheckpoint: TensorSource, QuantizedMatrixSource {
    public static let metadataKey = "swiftcap.quantization"
    public static let groupSizeKey = "swiftcap.q4_group_size"
    public static let prunedKey = "swiftcap.pruned_fraction"
    public static let scaleSuffix = ".__scale"

    struct Quantized: Sendable {
        var scheme: QuantScheme
        var rows: Int
        var columns: Int
        var data: SafetensorsFile.Entry
        var scale: SafetensorsFile.Entry
    }

    public let file: SafetensorsFile
    private let quantized: [String: Quantized]
    private let names: [String]

    /// Whether a safetensors file uses this convention (the metadata key, or any `.__scale` tensor).
    public static func isQuantized(_ file: SafetensorsFile) -> Bool {
        file.metadata[metadataKey] != nil || file.entries.contains { $0.name.hasSuffix(scaleSuffix) }
    }

    public init(url: URL) throws { try self.init(file: SafetensorsFile(url: url)) }

    /// Checks the pairing, dtypes and shapes of every quantized matrix.
    public init(file: SafetensorsFile) throws {
        self.file = file
        let fname = file.file.name
        if let g = file.metadata[QuantizedCheckpoint.groupSizeKey], g != String(QuantScheme.q4GroupSize) {
            throw FormatError.unsupported(file: fname, detail: "q4 group size \(g) (only \(QuantScheme.q4GroupSize) is supported)")
        }
        var quantized: [String: Quantized] = [:]
        for scale in file.entries where scale.name.hasSuffix(QuantizedCheckpoint.scaleSuffix) {
            let base = String(scale.name.dropLast(QuantizedCheckpoint.scaleSuffix.count))
            guard let data = file.entry(base) else {
                throw FormatError.malformed(file: fname, detail: "scale tensor '\(scale.name)' has no quantized tensor '\(base)'")
            }
            guard data.shape.count == 2 else {
                throw FormatError.badTensor(file: fname, name: base, detail: "quantized tensor must be rank 2, got shape \(data.shape)")
            }
            let rows = data.shape[0]
            switch data.dtype {
            case "I8":
                let cols = data.shape[1]
                guard scale.dtype == "F32", scale.shape == [rows] else {
                    throw FormatError.badTensor(file: fname, name: scale.name,
                                                detail: "int8 scale must be F32 [\(rows)], got \(scale.dtype) \(scale.shape)")
                }
                guard QuantScheme.int8.supports(rows: rows, columns: cols) else {
                    throw FormatError.badTensor(file: fname, name: base, detail: "empty int8 matrix \(data.shape)")
                }
                quantized[base] = Quantized(scheme: .int8, rows: rows, columns: cols, data: data, scale: scale)
            case "U8":
                let (cols, overflow) = data.shape[1].multipliedReportingOverflow(by: 2)
                guard !overflow, QuantScheme.q4.supports(rows: rows, columns: cols) else {
                    throw FormatError.badTensor(file: fname, name: base,
                                                detail: "q4 data shape \(data.shape) needs a second dimension that is a positive multiple of \(QuantScheme.q4GroupSize / 2)")
                }
                let groups = cols / QuantScheme.q4GroupSize
                guard scale.dtype == "F16", scale.shape == [rows, groups] else {
                    throw FormatError.badTensor(file: fname, name: scale.name,
                                                detail: "q4 scale must be F16 [\(rows), \(groups)], got \(scale.dtype) \(scale.shape)")
                }
                quantized[base] = Quantized(scheme: .q4, rows: rows, columns: cols, data: data, scale: scale)
            default:
                throw FormatError.badTensor(file: fname, name: base,
                                            detail: "tensor with a scale must be I8 (int8) or U8 (q4), got \(data.dtype)")
            }
        }
        self.quantized = quantized
        self.names = file.entries.map(\.name).filter { !$0.hasSuffix(QuantizedCheckpoint.scaleSuffix) }
    }

    public var sourceDescription: String { file.file.name }
    public var tensorNames: [String] { names }
    /// The names of the quantized matrices.
    public var quantizedNames: [String] { names.filter { quantized[$0] != nil } }
    public var metadata: [String: String] { file.metadata }

    public func tensorInfo(_ name: String) -> TensorInfo? {
        if let q = quantized[name] {
            return TensorInfo(dtype: q.scheme == .int8 ? "Q8_ROW" : "Q4_G32", shape: [q.rows, q.columns])
        }
        if name.hasSuffix(QuantizedCheckpoint.scaleSuffix) { return nil }
        return file.tensorInfo(name)
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        if let matrix = try quantizedMatrix(name) {
            return matrix.dequantized(device: Device(threads: 1, gemm: ReferenceGEMM()))
        }
        if name.hasSuffix(QuantizedCheckpoint.scaleSuffix) {
            throw WeightError.missing(name: name, source: file.file.name)
        }
        return try file.loadTensor(name)
    }

    /// A rank-2 F16 tensor (any F16 matrix of a `swiftcap quantize` file, e.g. every matrix of an f16 file) as
    /// an f16 `QuantizedMatrix` whose bytes are borrowed from the mapping, so it stays half precision in memory.
    public func halfPrecisionMatrix(_ name: String) throws -> QuantizedMatrix? {
        guard quantized[name] == nil, let e = file.entry(name), e.dtype == "F16", e.shape.count == 2 else { return nil }
        let fname = file.file.name
        let bytes = try file.file.slice(offset: file.dataStart + e.begin, length: e.end - e.begin, what: "data of tensor '\(name)'")
        guard let base = bytes.baseAddress else { throw FormatError.badTensor(file: fname, name: name, detail: "no data") }
        do {
            return try QuantizedMatrix(scheme: .f16, rows: e.shape[0], columns: e.shape[1],
                                       data: QuantizedBytes(borrowing: base, count: bytes.count, owner: file.file), scales: [])
        } catch let error as QuantError {
            throw FormatError.badTensor(file: fname, name: name, detail: error.description)
        }
    }

    /// The quantized matrix `name` (its bytes borrowed from the mapping), or nil when `name` is not quantized.
    public func quantizedMatrix(_ name: String) throws -> QuantizedMatrix? {
        guard let q = quantized[name] else { return nil }
        let fname = file.file.name
        let bytes = try file.file.slice(offset: file.dataStart + q.data.begin, length: q.data.end - q.data.begin,
                                        what: "data of tensor '\(name)'")
        guard let base = bytes.baseAddress else {
            throw FormatError.badTensor(file: fname, name: name, detail: "no data")
        }
        let scales = try file.loadTensor(q.scale.name).scalars
        do {
            return try QuantizedMatrix(scheme: q.scheme, rows: q.rows, columns: q.columns,
                                       data: QuantizedBytes(borrowing: base, count: bytes.count, owner: file.file),
                                       scales: scales)
        } catch let error as QuantError {
            throw FormatError.badTensor(file: fname, name: name, detail: error.description)
        }
    }
}

/// A checkpoint that can hand out quantized matrices for `Device.linear(_:weight:bias:)`.
public protocol QuantizedMatrixSource {
    /// The quantized matrix `name`, or nil when `name` is stored unquantized.
    func quantizedMatrix(_ name: String) throws -> QuantizedMatrix?
    /// The rank-2 F16 tensor `name` as an f16 `QuantizedMatrix` (bytes borrowed), or nil.
    func halfPrecisionMatrix(_ name: String) throws -> QuantizedMatrix?
}

extension QuantizedMatrixSource {
    public func halfPrecisionMatrix(_ name: String) throws -> QuantizedMatrix? { nil }
}

extension Weights {
    /// The quantized form of `name` when the checkpoint stores it quantized (nil otherwise: use
    /// `tensor(_:shape:)`). `shape` is the logical [out, in] shape to check.
    public func quantizedMatrix(_ name: String, shape: [Int]? = nil) throws -> QuantizedMatrix? {
        guard let source = source as? QuantizedMatrixSource, let m = try source.quantizedMatrix(key(name)) else { return nil }
        if let shape, shape != m.shape {
            throw WeightError.shapeMismatch(name: key(name), expected: shape, actual: m.shape, source: self.source.sourceDescription)
        }
        return m
    }
}

extension Weights {
    /// The f16 form of a rank-2 F16 tensor of a `swiftcap quantize` file (nil otherwise).
    func halfPrecisionMatrix(_ name: String, shape: [Int]) throws -> QuantizedMatrix? {
        guard let source = source as? QuantizedMatrixSource, let m = try source.halfPrecisionMatrix(key(name)) else { return nil }
        guard shape == m.shape else {
            throw WeightError.shapeMismatch(name: key(name), expected: shape, actual: m.shape, source: self.source.sourceDescription)
        }
        return m
    }

    /// An `nn.Linear` weight [out, in] as the layer will hold it: quantized (borrowed from the file
    /// mapping) when the checkpoint stores it int8/q4, or F16 in a `swiftcap quantize` file; dense fp32 otherwise.
    public func linearWeight(_ name: String, out: Int, in inF: Int) throws -> LinearWeight {
        if let m = try quantizedMatrix(name, shape: [out, inF]) { return .quantized(m) }
        if let m = try halfPrecisionMatrix(name, shape: [out, inF]) { return .quantized(m) }
        return .dense(try tensor(name, shape: [out, inF]))
    }

    /// A GPT-2 `Conv1D` weight stored [in, out]: kept quantized in that layout when the checkpoint
    /// stores it int8/q4 (scales per input row) or F16 (a `swiftcap quantize` file), otherwise a dense contiguous [out, in] copy (the
    /// layout the fp32 small-row kernel streams).
    public func conv1DWeight(_ name: String, in inF: Int, out: Int) throws -> LinearWeight {
        if let m = try quantizedMatrix(name, shape: [inF, out]) { return .quantizedInOut(m) }
        if let m = try halfPrecisionMatrix(name, shape: [inF, out]) { return .quantizedInOut(m) }
        return .dense(try tensor(name, shape: [inF, out]).transposed().contiguous())
    }
}
