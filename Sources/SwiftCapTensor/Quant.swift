import Foundation
import CKernels

/// How a `QuantizedMatrix` stores its weights (see Sources/CKernels/include/sc_quant.h).
public enum QuantScheme: String, Sendable, CaseIterable {
    /// int8 per row (per output channel): `w ~= scale[row] * q`, q in [-127, 127], scale = max|row| / 127.
    case int8
    /// 4-bit groups of 32 columns: `w ~= scale[row, group] * q`, q in [-8, 7], scale (binary16) >= max|group| / 7.
    case q4
    /// binary16 weights, no scales (what an F16 checkpoint matrix is held as, at half the fp32 memory).
    case f16

    /// Columns per q4 scale.
    public static let q4GroupSize = Int(SC_QUANT_Q4_GROUP)

    var code: Int32 {
        switch self {
        case .int8: return Int32(SC_QUANT_INT8)
        case .q4: return Int32(SC_QUANT_Q4)
        case .f16: return Int32(SC_QUANT_F16)
        }
    }

    /// Bytes of quantized data for a [rows, columns] matrix.
    public func dataBytes(rows: Int, columns: Int) -> Int {
        switch self {
        case .int8: return rows * columns
        case .q4: return rows * columns / 2
        case .f16: return rows * columns * 2
        }
    }
    /// Number of scales for a [rows, columns] matrix.
    public func scaleCount(rows: Int, columns: Int) -> Int {
        switch self {
        case .int8: return rows
        case .q4: return rows * (columns / QuantScheme.q4GroupSize)
        case .f16: return 0
        }
    }
    /// Whether a [rows, columns] matrix can use this scheme (q4 needs columns % 32 == 0).
    public func supports(rows: Int, columns: Int) -> Bool {
        rows > 0 && columns > 0 && (self != .q4 || columns % QuantScheme.q4GroupSize == 0)
    }
}

/// Errors building or using quantized weights.
public enum QuantError: Error, CustomStringConvertible, Equatable {
    case invalidMatrix(String)
    public var description: String {
        switch self { case .invalidMatrix(let why): return "quantized matrix: \(why)" }
    }
}

/// Raw quantized bytes: owned, or borrowed from a memory mapping kept alive by `owner`.
public final class QuantizedBytes: @unchecked Sendable {
    public let pointer: UnsafeRawPointer
    public let count: Int
    private let owned: UnsafeMutableRawPointer?
    public let owner: AnyObject?

    /// Zero-filled owned bytes.
    public init(count: Int) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        self.pointer = UnsafeRawPointer(p)
        self.owned = p
        self.count = count
        self.owner = nil
    }

    /// Borrows `count` bytes at `pointer`; `owner` (e.g. the mapped file) must keep them valid.
    public init(borrowing pointer: UnsafeRawPointer, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owned = nil
        self.owner = owner
    }

    deinit { owned?.deallocate() }

    var mutablePointer: UnsafeMutableRawPointer? { owned }
}

/// A weight matrix [rows, columns] (nn.Linear layout [out, in]) stored quantized.
public struct QuantizedMatrix: Sendable {
    public let scheme: QuantScheme
    public let rows: Int
    public let columns: Int
    /// `scheme.dataBytes(rows:columns:)` bytes (int8 values, or packed q4 nibbles).
    public let data: QuantizedBytes
    /// fp32 scales: [rows] (int8), [rows, columns / 32] (q4; exact binary16 values), none (f16).
    public let scales: [Float]

    public var shape: [Int] { [rows, columns] }
    /// Bytes the weights occupy (data + scales as stored on disk: fp32 for int8, binary16 for q4).
    public var storedBytes: Int { data.count + scales.count * (scheme == .int8 ? 4 : 2) }

    /// The scales' base address for the C kernels (a valid dummy when there are none, as for f16).
    func withScales<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        if scales.isEmpty {
            var none: Float = 0
            return try body(&none)
        }
        return try scales.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Wraps existing quantized data after checking its sizes and scales.
    public init(scheme: QuantScheme, rows: Int, columns: Int, data: QuantizedBytes, scales: [Float]) throws {
        guard scheme.supports(rows: rows, columns: columns) else {
            throw QuantError.invalidMatrix("\(scheme) cannot hold a [\(rows), \(columns)] matrix"
                                           + (scheme == .q4 ? " (columns must be a positive multiple of 32)" : ""))
        }
        let need = scheme.dataBytes(rows: rows, columns: columns)
        guard data.count == need else {
            throw QuantError.invalidMatrix("\(scheme) [\(rows), \(columns)] needs \(need) data bytes, got \(data.count)")
        }
        let nScales = scheme.scaleCount(rows: rows, columns: columns)
        guard scales.count == nScales else {
            throw QuantError.invalidMatrix("\(scheme) [\(rows), \(columns)] needs \(nScales) scales, got \(scales.count)")
        }
        if let bad = scales.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw QuantError.invalidMatrix("scale \(bad) is \(scales[bad]) (must be finite and >= 0)")
        }
        self.scheme = scheme
        self.rows = rows
        self.columns = columns
        self.data = data
        self.scales = scales
    }

    /// Quantizes `weight` [rows, columns].
    public init(quantizing weight: Tensor, scheme: QuantScheme, device: Device) throws {
        guard weight.rank == 2 else { throw QuantError.invalidMatrix("needs a rank-2 weight, got \(weight.shape)") }
        let rows = weight.shape[0], columns = weight.shape[1]
        guard scheme.supports(rows: rows, columns: columns) else {
            throw QuantError.invalidMatrix("\(scheme) cannot hold a [\(rows), \(columns)] matrix"
                                           + (scheme == .q4 ? " (columns must be a positive multiple of 32)" : ""))
        }
        let w = weight.contiguous()
        let pw = w.contiguousPointer
        let bytes = QuantizedBytes(count: scheme.dataBytes(rows: rows, columns: columns))
        guard let pq = bytes.mutablePointer else { throw QuantError.invalidMatrix("internal: unowned buffer") }
        var scales = [Float](repeating: 0, count: scheme.scaleCount(rows: rows, columns: columns))
        switch scheme {
        case .int8:
            scales.withUnsafeMutableBufferPointer { ps in
                let sp = ps.baseAddress!
                device.parallelFor(rows, costPerItem: columns) { r0, r1 in
                    sc_quantize_int8_rows(pw, Int32(columns), Int32(r0), Int32(r1),
                                          pq.assumingMemoryBound(to: Int8.self), sp)
                }
            }
        case .f16:
            sc_f32_to_f16_array(pw, pq.assumingMemoryBound(to: UInt16.self), rows * columns)
        case .q4:
            var bits = [UInt16](repeating: 0, count: scales.count)
            bits.withUnsafeMutableBufferPointer { pb in
                let bp = pb.baseAddress!
                device.parallelFor(rows, costPerItem: columns) { r0, r1 in
                    sc_quantize_q4_rows(pw, Int32(columns), Int32(r0), Int32(r1),
                                        pq.assumingMemoryBound(to: UInt8.self), bp)
                }
            }
            scales = bits.map { sc_f16_to_f32($0) }
        }
        withExtendedLifetime(w.storage) {}
        try self.init(scheme: scheme, rows: rows, columns: columns, data: bytes, scales: scales)
    }

    /// The q4 scales as binary16 bits (exact: they were binary16 values).
    public var scaleBitsF16: [UInt16] { scales.map { sc_f32_to_f16($0) } }

    /// The fp32 matrix [rows, columns] these weights stand for.
    public func dequantized(device: Device) -> Tensor {
        let out = Tensor(zeros: [rows, columns])
        let po = out.contiguousPointer
        withScales { sp in
            device.parallelFor(rows, costPerItem: columns) { r0, r1 in
                sc_dequantize_rows(scheme.code, data.pointer, sp, Int32(columns), Int32(r0), Int32(r1),
                                   po + r0 * columns)
            }
        }
        return out
    }
}

/// Unstructured magnitude pruning of one matrix: the `fraction` of entries with the smallest |w|
/// become 0 (ties at the threshold are pruned in index order until the count is reached; NaNs are kept).
/// - weight: any shape; pruned as one set. fraction in [0, 1). Returns a new tensor of the same shape.
public func pruneMagnitude(_ weight: Tensor, fraction: Double) throws -> Tensor {
    guard fraction >= 0, fraction < 1 else {
        throw TensorError.invalidArgument(op: "pruneMagnitude", "fraction must be in [0, 1), got \(fraction)")
    }
    let out = Tensor(copying: weight.contiguous())
    let n = out.count
    let drop = Int((Double(n) * fraction).rounded(.down))
    if drop == 0 { return out }
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { scratch.deallocate() }
    sc_prune_magnitude(out.contiguousPointer, n, drop, scratch)
    return out
}

/// binary16 bits of every element (round to nearest even), in row-major order.
public func float16Bits(_ tensor: Tensor) -> [UInt16] {
    let t = tensor.contiguous()
    let n = t.count
    let out = [UInt16](unsafeUninitializedCapacity: n) { buf, count in
        if n > 0 { sc_f32_to_f16_array(t.contiguousPointer, buf.baseAddress!, n) }
        count = n
    }
    withExtendedLifetime(t.storage) {}
    return out
}
