import Foundation
import SwiftCapTensor

/// A GGUF metadata value.
public indirect enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// An array: its element type code and its elements.
    case array(elementType: UInt32, [GGUFValue])

    /// Integer value of any integer (or bool) case.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [GGUFValue]? { if case .array(_, let a) = self { return a }; return nil }

    /// The GGUF type name ("UINT32", "ARRAY[STRING]", …).
    public var typeName: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        case .array(let t, _): return "ARRAY[\(GGUFValue.typeName(code: t))]"
        }
    }

    static let typeNames = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"]

    static func typeName(code: UInt32) -> String {
        code < typeNames.count ? typeNames[Int(code)] : "TYPE_\(code)"
    }

    public var description: String {
        switch self {
        case .uint8(let v): return String(v)
        case .int8(let v): return String(v)
        case .uint16(let v): return String(v)
        case .int16(let v): return String(v)
        case .uint32(let v): return String(v)
        case .int32(let v): return String(v)
        case .float32(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(60))…\" (\(s.count) chars)" : "\"\(s)\""
        case .uint64(let v): return String(v)
        case .int64(let v): return String(v)
        case .float64(let v): return String(v)
        case .array(_, let a):
            let head = a.prefix(4).map(\.description).joined(separator: ", ")
            return a.count > 4 ? "[\(head), … (\(a.count) items)]" : "[\(head)]"
        }
    }
}

/// ggml tensor types used in GGUF files and their block layouts.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30
    // Known so that files holding them open (their extents can be checked); not dequantized.
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case iq1_M = 29, tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// Elements per block and bytes per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .i8, .i16, .i32, .i64, .f64, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        case .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq3_S, .iq2_S, .iq4_XS, .iq1_M, .tq1_0, .tq2_0: return 256
        case .iq4_NL, .mxfp4: return 32
        case .nvfp4: return 64
        case .q1_0: return 128
        }
    }

    public var bytesPerBlock: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8: return 1
        case .i64, .f64: return 8
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 36
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        case .iq2_XXS: return 66
        case .iq2_XS: return 74
        case .iq3_XXS: return 98
        case .iq1_S: return 50
        case .iq4_NL: return 18
        case .iq3_S: return 110
        case .iq2_S: return 82
        case .iq4_XS: return 136
        case .iq1_M: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        case .nvfp4: return 36
        case .q1_0: return 18
        }
    }

    /// "F32", "Q4_K", "IQ2_XXS", … (ggml's names).
    public var name: String { String(describing: self).uppercased() }

    /// True when `GGUFFile.loadTensor` can dequantize this type.
    public var isSupported: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return true
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_NL, .iq4_XS: return true
        // Q8_1 and Q8_K are intermediate types for dot products (gguf-py has no dequantizer to test
        // against); the other IQ/TQ/FP4 types need lookup grids not implemented here
        default: return false
        }
    }

    /// Name for a raw type code (known or not).
    public static func name(code: UInt32) -> String { GGMLType(rawValue: code)?.name ?? "GGML_TYPE_\(code)" }
}

/// A GGUF file (versions 2 and 3): metadata key/values, tensor infos, and tensor data aligned to
/// `general.alignment` (default 32). Tensors are named as in the file; `TensorInfo.shape` is
/// row-major (the reverse of GGUF's `ne` order, so `token_embd.weight` is `[vocab, dim]`).
/// F32 tensors are returned zero-copy when aligned; F16/BF16/integer types are converted and
/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS blocks are
/// dequantized to fp32 (Q8_1/Q8_K, intermediate types, and the other IQ/TQ/FP4 types are not; files
/// holding them open, and those tensors report `WeightError.unsupportedDType`).
public struct GGUFFile: TensorSource {
    public struct TensorEntry: Sendable, Equatable {
        public var name: String
        /// GGUF order: `ne[0]` is the fastest-varying dimension.
        public var ne: [Int]
        public var typeCode: UInt32
        /// Offset relative to the data section.
        public var offset: Int
        public var byteCount: Int
        /// Row-major shape (reversed `ne`).
        public var shape: [Int] { ne.reversed() }
        public var type: GGMLType? { GGMLType(rawValue: typeCode) }
    }

    public let file: MappedFile
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [TensorEntry]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataStart: Int
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    /// Longest string / array accepted, guarding memory against crafted counts.
    static let maxArrayCount = 1 << 28

    public init(url: URL) throws { try self.init(file: MappedFile(url: url)) }
    public init(path: String) throws { try self.init(file: MappedFile(path: path)) }

    public init(file: MappedFile) throws {
        self.file = file
        let name = file.name
        var c = GGUFCursor(file: file)
        let magic = try c.u32("magic")
        guard magic == 0x4655_4747 else {  // "GGUF"
            throw FormatError.malformed(file: name, detail: "bad magic \(String(format: "0x%08x", magic)) (not a GGUF file)")
        }
        version = try c.u32("version")
        guard version == 2 || version == 3 else {
            throw FormatError.unsupported(file: name, detail: "GGUF version \(version) (2 and 3 are read)")
        }
        let tensorCount = try c.u64("tensor count")
        let kvCount = try c.u64("metadata count")
        // each KV needs ≥ 13 bytes (key length, type, 1-byte value); each tensor info ≥ 24 bytes
        guard kvCount <= UInt64(file.count / 13), tensorCount <= UInt64(file.count / 24) else {
            throw FormatError.malformed(file: name, detail: "\(kvCount) metadata entries and \(tensorCount) tensors cannot fit in \(file.count) bytes")
        }
        var meta: [(key: String, value: GGUFValue)] = []
        var mIndex: [String: Int] = [:]
        for _ in 0..<Int(kvCount) {
            let key = try c.string("metadata key")
            let type = try c.u32("type of '\(key)'")
            let value = try c.value(type: type, key: key, depth: 0)
            if mIndex[key] != nil {
                throw FormatError.malformed(file: name, detail: "metadata key '\(key)' appears twice")
            }
            mIndex[key] = meta.count
            meta.append((key, value))
        }
        metadata = meta
        metadataIndex = mIndex
        var align = 32
        if let i = mIndex["general.alignment"] {
            guard case .uint32(let a) = meta[i].value, a > 0, a & (a - 1) == 0, a <= 1 << 20 else {
                throw FormatError.malformed(file: name, detail: "general.alignment \(meta[i].value) is not a power-of-two UINT32")
            }
            align = Int(a)
        }
        alignment = align

        var list: [TensorEntry] = []
        var tIndex: [String: Int] = [:]
        for _ in 0..<Int(tensorCount) {
            let tname = try c.string("tensor name")
            let nd = try c.u32("dimension count of '\(tname)'")
            guard nd <= 4 else {
                throw FormatError.badTensor(file: name, name: tname, detail: "\(nd) dimensions (GGUF allows at most 4)")
            }
            var ne: [Int] = []
            for _ in 0..<Int(nd) {
                let d = try c.u64("dimension of '\(tname)'")
                guard d <= UInt64(Int32.max) * 64 else {
                    throw FormatError.badTensor(file: name, name: tname, detail: "dimension \(d) is too large")
                }
                ne.append(Int(d))
            }
            let type = try c.u32("type of '\(tname)'")
            let offset = try c.u64("offset of '\(tname)'")
            guard let t = GGMLType(rawValue: type) else {
                throw FormatError.badTensor(file: name, name: tname, detail: "unknown ggml type \(type)")
            }
            guard let n = Checked.product(ne), n <= Int(Int32.max) * 64 else {
                throw FormatError.badTensor(file: name, name: tname, detail: "dimensions \(ne) are too large")
            }
            guard (ne.first ?? 1) % t.blockSize == 0 else {
                throw FormatError.badTensor(file: name, name: tname, detail: "row length \(ne.first ?? 1) is not a multiple of the \(t.name) block size \(t.blockSize)")
            }
            guard offset % UInt64(align) == 0, offset <= UInt64(file.count) else {
                throw FormatError.badTensor(file: name, name: tname, detail: "data offset \(offset) is not aligned to \(align) or beyond the file")
            }
            guard tIndex[tname] == nil else {
                throw FormatError.badTensor(file: name, name: tname, detail: "name appears twice")
            }
            tIndex[tname] = list.count
            list.append(TensorEntry(name: tname, ne: ne, typeCode: type, offset: Int(offset), byteCount: n / t.blockSize * t.bytesPerBlock))
        }
        let pad = (align - c.position % align) % align
        dataStart = c.position + pad
        guard dataStart <= file.count || list.isEmpty else {
            throw FormatError.truncated(file: name, detail: "data section would start at byte \(dataStart), past the end (\(file.count) bytes)")
        }
        // every tensor inside the file, none overlapping
        var byOffset = list
        byOffset.sort { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        var lastEnd = 0, lastName = ""
        for t in byOffset {
            try file.checkRange(offset: dataStart + t.offset, length: t.byteCount, what: "data of tensor '\(t.name)'")
            if t.byteCount > 0 {
                guard t.offset >= lastEnd else {
                    throw FormatError.badTensor(file: name, name: t.name, detail: "data at offset \(t.offset) overlaps tensor '\(lastName)' (ends at \(lastEnd))")
                }
                lastEnd = t.offset + t.byteCount
                lastName = t.name
            }
        }
        tensors = list
        tensorIndex = tIndex
    }

    // MARK: metadata

    /// The metadata value for `key`.
    public func value(_ key: String) -> GGUFValue? { metadataIndex[key].map { metadata[$0].value } }

    /// `general.architecture` ("llama", …).
    public var architecture: String? { value("general.architecture")?.stringValue }

    // MARK: TensorSource

    public var sourceDescription: String { file.name }
    public var tensorNames: [String] { tensors.map(\.name) }

    public func entry(_ name: String) -> TensorEntry? { tensorIndex[name].map { tensors[$0] } }

    public func tensorInfo(_ name: String) -> TensorInfo? {
        entry(name).map { TensorInfo(dtype: GGMLType.name(code: $0.typeCode), shape: $0.shape) }
    }

    /// The stored (possibly quantized) bytes of a tensor, for kernels that work on blocks directly.
    /// Valid while this `GGUFFile` (its `file`) is alive. Rows of `ne[0]` elements are
    /// `ne[0] / type.blockSize * type.bytesPerBlock` bytes each.
    public func rawData(_ name: String) throws -> (type: GGMLType, bytes: UnsafeRawBufferPointer) {
        guard let e = entry(name) else { throw WeightError.missing(name: name, source: file.name) }
        guard let type = e.type else {
            throw WeightError.unsupportedDType(name: name, dtype: GGMLType.name(code: e.typeCode), source: file.name)
        }
        return (type, try file.slice(offset: dataStart + e.offset, length: e.byteCount, what: "data of tensor '\(name)'"))
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let e = entry(name) else { throw WeightError.missing(name: name, source: file.name) }
        guard let type = e.type, type.isSupported else {
            throw WeightError.unsupportedDType(name: name, dtype: GGMLType.name(code: e.typeCode), source: file.name)
        }
        let offset = dataStart + e.offset
        let shape = e.shape
        switch type {
        case .f32: return try file.tensor(offset: offset, type: .f32, shape: shape, tensorName: name)
        case .f16: return try file.tensor(offset: offset, type: .f16, shape: shape, tensorName: name)
        case .bf16: return try file.tensor(offset: offset, type: .bf16, shape: shape, tensorName: name)
        case .f64: return try file.tensor(offset: offset, type: .f64, shape: shape, tensorName: name)
        case .i8: return try file.tensor(offset: offset, type: .i8, shape: shape, tensorName: name)
        case .i16: return try file.tensor(offset: offset, type: .i16, shape: shape, tensorName: name)
        case .i32: return try file.tensor(offset: offset, type: .i32, shape: shape, tensorName: name)
        case .i64: return try file.tensor(offset: offset, type: .i64, shape: shape, tensorName: name)
        default: break
        }
        let src = try file.slice(offset: offset, length: e.byteCount, what: "data of tensor '\(name)'")
        let out = Tensor(zeros: shape)
        guard let base = src.baseAddress else { return out }
        let blocks = e.byteCount / type.bytesPerBlock
        let dst = out.storage.pointer
        GGMLDequant.dequantize(type, blocks: blocks, src: base, dst: dst)
        return out
    }
}

/// Block dequantization (layouts from ggml's `ggml-common.h`; all scales are little-endian fp16).
public enum GGMLDequant {
    @inline(__always)
    static func f16(_ p: UnsafeRawPointer, _ at: Int) -> Float {
        Half.toFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
    }

    /// Dequantizes `blocks` consecutive blocks of `type` from `src` into `dst`.
    public static func dequantize(_ type: GGMLType, blocks: Int, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>) {
        let bs = type.bytesPerBlock, n = type.blockSize
        for b in 0..<blocks {
            let p = src + b * bs
            let y = dst + b * n
            switch type {
            case .q8_0: q8_0(p, y)
            case .q4_0: q4_0(p, y)
            case .q4_1: q4_1(p, y)
            case .q4_K: q4_K(p, y)
            case .q6_K: q6_K(p, y)
            case .q5_0: q5_0(p, y)
            case .q5_1: q5_1(p, y)
            case .q2_K: q2_K(p, y)
            case .q3_K: q3_K(p, y)
            case .q5_K: q5_K(p, y)
            case .iq4_NL: iq4_NL(p, y)
            case .iq4_XS: iq4_XS(p, y)
            default: y.update(repeating: .nan, count: n)
            }
        }
    }

    /// Q8_0: d (f16), 32 × int8. x = d·q.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        for j in 0..<32 { y[j] = d * Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) }
    }

    /// Q4_0: d (f16), 16 bytes of nibbles; low nibbles are elements 0..15, high nibbles 16..31. x = d·(q − 8).
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        for j in 0..<16 {
            let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = d * Float(Int(q & 0x0f) - 8)
            y[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    /// Q4_1: d (f16), m (f16), 16 bytes of nibbles. x = d·q + m.
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), m = f16(p, 2)
        for j in 0..<16 {
            let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
            y[j] = d * Float(q & 0x0f) + m
            y[j + 16] = d * Float(q >> 4) + m
        }
    }

    /// Q5_0: d (f16), 32 high bits (u32), 16 bytes of nibbles. x = d·((nibble | high << 4) − 16).
    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        for j in 0..<16 {
            let q = UInt32(p.load(fromByteOffset: 6 + j, as: UInt8.self))
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = d * Float(Int((q & 0x0f) | h0) - 16)
            y[j + 16] = d * Float(Int((q >> 4) | h1) - 16)
        }
    }

    /// Q5_1: d (f16), m (f16), 32 high bits, 16 bytes of nibbles. x = d·(nibble | high << 4) + m.
    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), m = f16(p, 2)
        let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        for j in 0..<16 {
            let q = UInt32(p.load(fromByteOffset: 8 + j, as: UInt8.self))
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = d * Float((q & 0x0f) | h0) + m
            y[j + 16] = d * Float((q >> 4) | h1) + m
        }
    }

    /// Q2_K: 16 scale bytes (low nibble scale, high nibble min), 64 bytes of 2-bit values, d, dmin (f16);
    /// 16 sub-blocks of 16. x = d·scale·q − dmin·min.
    static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 80), dmin = f16(p, 82)
        var out = y
        var isc = 0
        for half in 0..<2 {
            let q = p + 16 + 32 * half
            for j in 0..<4 {
                let shift = UInt8(2 * j)
                for part in 0..<2 {
                    let sc = p.load(fromByteOffset: isc, as: UInt8.self)
                    isc += 1
                    let dl = d * Float(sc & 0x0f), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        let v = (q.load(fromByteOffset: l + 16 * part, as: UInt8.self) >> shift) & 3
                        out[l] = dl * Float(v) - ml
                    }
                    out += 16
                }
            }
        }
    }

    /// Q3_K: 32 bytes of high-bit masks, 64 bytes of 2-bit values, 12 bytes of packed 6-bit scales, d (f16);
    /// 16 sub-blocks of 16. x = d·(scale − 32)·(q − (high bit ? 0 : 4)).
    static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 108)
        let hm = p, qs = p + 32
        var aux = [UInt32](repeating: 0, count: 4)
        for i in 0..<3 { aux[i] = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 96 + 4 * i, as: UInt32.self)) }
        let kmask1: UInt32 = 0x0303_0303, kmask2: UInt32 = 0x0f0f_0f0f
        let tmp = aux[2]
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
        aux[0] = (aux[0] & kmask2) | ((tmp & kmask1) << 4)
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
        func scale(_ i: Int) -> Float {
            Float(Int8(bitPattern: UInt8(truncatingIfNeeded: aux[i / 4] >> UInt32(8 * (i % 4))))) - 32
        }
        var out = y
        var isc = 0
        var m: UInt8 = 1
        for half in 0..<2 {
            let q = qs + 32 * half
            for j in 0..<4 {
                let shift = UInt8(2 * j)
                for part in 0..<2 {
                    let dl = d * scale(isc)
                    isc += 1
                    for l in 0..<16 {
                        let idx = l + 16 * part
                        let low = Int((q.load(fromByteOffset: idx, as: UInt8.self) >> shift) & 3)
                        let high = hm.load(fromByteOffset: idx, as: UInt8.self) & m != 0 ? 0 : 4
                        out[l] = dl * Float(low - high)
                    }
                    out += 16
                }
                m <<= 1
            }
        }
    }

    /// Q5_K: d, dmin (f16), 12 bytes of 6-bit scales/mins (as Q4_K), 32 bytes of high bits, 128 bytes of nibbles.
    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), dmin = f16(p, 2)
        let scales = p + 4, qh = p + 16, ql = p + 48
        var u1: UInt8 = 1, u2: UInt8 = 2
        for g in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * g, scales)
            let (sc2, m2) = scaleMinK4(2 * g + 1, scales)
            let d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2
            let q = ql + 32 * g
            let out = y + 64 * g
            for l in 0..<32 {
                let v = q.load(fromByteOffset: l, as: UInt8.self)
                let h = qh.load(fromByteOffset: l, as: UInt8.self)
                out[l] = d1 * Float(Int(v & 0x0f) + (h & u1 != 0 ? 16 : 0)) - mm1
                out[l + 32] = d2 * Float(Int(v >> 4) + (h & u2 != 0 ? 16 : 0)) - mm2
            }
            u1 <<= 2
            u2 <<= 2
        }
    }

    /// The 16 non-linear 4-bit levels shared by IQ4_NL and IQ4_XS.
    static let iq4Levels: [Float] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// IQ4_NL: d (f16), 16 bytes of nibbles indexing `iq4Levels`. x = d·level.
    static func iq4_NL(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        for j in 0..<16 {
            let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = d * iq4Levels[Int(q & 0x0f)]
            y[j + 16] = d * iq4Levels[Int(q >> 4)]
        }
    }

    /// IQ4_XS: d (f16), high scale bits (u16), 4 bytes of low scale nibbles, 128 bytes of nibbles;
    /// 8 sub-blocks of 32 with 6-bit scales. x = d·(scale − 32)·level.
    static func iq4_XS(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0)
        let high = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        for ib in 0..<8 {
            let lowByte = p.load(fromByteOffset: 4 + ib / 2, as: UInt8.self)
            let ls = Int((lowByte >> UInt8(4 * (ib % 2))) & 0x0f) | (Int((high >> UInt16(2 * ib)) & 3) << 4)
            let dl = d * Float(ls - 32)
            let q = p + 8 + 16 * ib
            let out = y + 32 * ib
            for j in 0..<16 {
                let v = q.load(fromByteOffset: j, as: UInt8.self)
                out[j] = dl * iq4Levels[Int(v & 0x0f)]
                out[j + 16] = dl * iq4Levels[Int(v >> 4)]
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..7) packed in Q4_K's 12 scale bytes.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ s: UnsafeRawPointer) -> (Float, Float) {
        func b(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 {
            return (Float(b(j) & 63), Float(b(j + 4) & 63))
        }
        let sc = (b(j + 4) & 0x0f) | ((b(j - 4) >> 6) << 4)
        let m = (b(j + 4) >> 4) | ((b(j) >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// Q4_K: d (f16), dmin (f16), 12 bytes of 6-bit scales/mins, 128 bytes of nibbles; 256 elements in
    /// 8 sub-blocks of 32. Each 32-byte group of nibbles holds two sub-blocks (low, then high nibbles).
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 0), dmin = f16(p, 2)
        let scales = p + 4
        let qs = p + 16
        for g in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * g, scales)
            let (sc2, m2) = scaleMinK4(2 * g + 1, scales)
            let d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2
            let q = qs + 32 * g
            let out = y + 64 * g
            for l in 0..<32 {
                let v = q.load(fromByteOffset: l, as: UInt8.self)
                out[l] = d1 * Float(v & 0x0f) - mm1
                out[l + 32] = d2 * Float(v >> 4) - mm2
            }
        }
    }

    /// Q6_K: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, d (f16); 256 elements in
    /// 16 sub-blocks of 16. x = d·scale·(q − 32).
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(p, 208)
        for half in 0..<2 {
            let ql = p + 64 * half
            let qh = p + 128 + 32 * half
            let sc = p + 192 + 8 * half
            let out = y + 128 * half
            func s(_ i: Int) -> Float { Float(sc.load(fromByteOffset: i, as: Int8.self)) }
            for l in 0..<32 {
                let isc = l / 16
                let a = ql.load(fromByteOffset: l, as: UInt8.self)
                let b = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                let h = qh.load(fromByteOffset: l, as: UInt8.self)
                let q1 = Int((a & 0x0f) | ((h & 3) << 4)) - 32
                let q2 = Int((b & 0x0f) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((a >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((b >> 4) | (((h >> 6) & 3) << 4)) - 32
                out[l] = d * s(isc) * Float(q1)
                out[l + 32] = d * s(isc + 2) * Float(q2)
                out[l + 64] = d * s(isc + 4) * Float(q3)
                out[l + 96] = d * s(isc + 6) * Float(q4)
            }
        }
    }
}

/// Sequential, bounds-checked reads of GGUF's little-endian header structures.
struct GGUFCursor {
    let file: MappedFile
    private(set) var position = 0

    init(file: MappedFile) { self.file = file }

    mutating func read<T: FixedWidthInteger>(_ t: T.Type, _ what: String) throws -> T {
        let v = try file.readLE(T.self, at: position, what: what)
        position += MemoryLayout<T>.size
        return v
    }

    mutating func u32(_ what: String) throws -> UInt32 { try read(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try read(UInt64.self, what) }

    mutating func string(_ what: String) throws -> String {
        let n = try u64("length of \(what)")
        guard n <= UInt64(file.count - position) else {
            throw FormatError.truncated(file: file.name, detail: "\(what) of \(n) bytes at byte \(position) runs past the end of the file")
        }
        let s = try file.slice(offset: position, length: Int(n), what: what)
        position += Int(n)
        return String(decoding: s, as: UTF8.self)
    }

    mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self, key))
        case 1: return .int8(try read(Int8.self, key))
        case 2: return .uint16(try read(UInt16.self, key))
        case 3: return .int16(try read(Int16.self, key))
        case 4: return .uint32(try read(UInt32.self, key))
        case 5: return .int32(try read(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self, key)))
        case 7:
            let b = try read(UInt8.self, key)
            guard b <= 1 else { throw FormatError.malformed(file: file.name, detail: "metadata '\(key)': bool byte \(b)") }
            return .bool(b == 1)
        case 8: return .string(try string("metadata '\(key)'"))
        case 9:
            guard depth < 8 else { throw FormatError.malformed(file: file.name, detail: "metadata '\(key)': arrays nested deeper than 8") }
            let et = try u32("array type of '\(key)'")
            let n = try u64("array length of '\(key)'")
            // every element takes at least one byte (strings at least 8)
            let minSize: UInt64 = et == 8 ? 8 : (et == 9 ? 12 : 1)
            guard n <= UInt64(GGUFFile.maxArrayCount), n * minSize <= UInt64(file.count - position) else {
                throw FormatError.truncated(file: file.name, detail: "metadata '\(key)': array of \(n) elements at byte \(position) cannot fit in the file")
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { items.append(try value(type: et, key: key, depth: depth + 1)) }
            return .array(elementType: et, items)
        case 10: return .uint64(try read(UInt64.self, key))
        case 11: return .int64(try read(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self, key)))
        default:
            throw FormatError.malformed(file: file.name, detail: "metadata '\(key)' has unknown value type \(type) at byte \(position - 4)")
        }
    }
}
