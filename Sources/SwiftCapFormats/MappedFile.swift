import Foundation
import SwiftCapTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (or, for tests and in-memory data, a private copy of
/// some bytes). The mapping lives as long as this object; tensors that borrow from it hold a
/// reference (`TensorStorage.owner`), so the memory stays valid while any of them is alive.
///
/// All accessors take offsets read from untrusted files and check them against `count`.
public final class MappedFile: @unchecked Sendable {
    /// Names the file in error messages (its path, or the name given to in-memory bytes).
    public let name: String
    /// Size in bytes.
    public let count: Int
    private let base: UnsafeMutableRawPointer?
    private let isMapped: Bool

    /// Maps the file at `path` read-only.
    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    /// Maps the file at `path` read-only. Empty files are allowed (`count == 0`).
    public init(path: String) throws {
        name = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FormatError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FormatError.cannotOpen(file: path, reason: "fstat: " + String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError.cannotOpen(file: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        count = size
        isMapped = size > 0
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FormatError.cannotOpen(file: path, reason: "mmap of \(size) bytes failed: " + String(cString: strerror(errno)))
        }
        base = p
    }

    /// A private, 64-byte-aligned copy of `bytes` that behaves like a mapped file named `name`.
    public init<C: Collection>(bytes: C, name: String) where C.Element == UInt8 {
        self.name = name
        count = bytes.count
        isMapped = false
        if bytes.isEmpty {
            base = nil
            return
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
        let typed = p.bindMemory(to: UInt8.self, capacity: bytes.count)
        _ = UnsafeMutableBufferPointer(start: typed, count: bytes.count).initialize(from: bytes)
        base = p
    }

    deinit {
        guard let base else { return }
        if isMapped {
            munmap(base, count)
        } else {
            base.deallocate()
        }
    }

    /// All bytes. Valid while `self` is alive.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Checks that `[offset, offset + length)` lies inside the file; `what` names the structure.
    public func checkRange(offset: Int, length: Int, what: String) throws {
        guard offset >= 0, length >= 0, let end = Checked.add(offset, length), end <= count else {
            throw FormatError.truncated(file: name, detail: "\(what) at bytes \(offset)..<\(offset &+ length) lies outside the file (\(count) bytes)")
        }
    }

    /// The bytes `[offset, offset + length)`, checked.
    public func slice(offset: Int, length: Int, what: String) throws -> UnsafeRawBufferPointer {
        try checkRange(offset: offset, length: length, what: what)
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// A copy of the bytes `[offset, offset + length)`, checked.
    public func copyBytes(offset: Int, length: Int, what: String) throws -> [UInt8] {
        Array(try slice(offset: offset, length: length, what: what))
    }

    /// A little-endian integer at `offset`, checked.
    public func readLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, what: String) throws -> T {
        let s = try slice(offset: offset, length: MemoryLayout<T>.size, what: what)
        return T(littleEndian: s.loadUnaligned(as: T.self))
    }

    /// An fp32 tensor of `shape` from elements of `type` stored at `offset` (little-endian).
    /// F32 data that is 4-byte aligned is not copied: the tensor borrows the mapping.
    /// `tensorName` is used in errors.
    public func tensor(offset: Int, type: ElementType, shape: [Int], tensorName: String) throws -> Tensor {
        guard let n = Checked.product(shape), let byteCount = Checked.mul(n, type.byteSize) else {
            throw FormatError.badTensor(file: name, name: tensorName, detail: "shape \(shape) has a negative dimension or is too large")
        }
        let src = try slice(offset: offset, length: byteCount, what: "data of tensor '\(tensorName)'")
        if type == .f32, n > 0, hostIsLittleEndian, let p = src.baseAddress,
           Int(bitPattern: p) % MemoryLayout<Float>.alignment == 0 {
            let fp = UnsafeMutableRawPointer(mutating: p).bindMemory(to: Float.self, capacity: n)
            return Tensor(storage: TensorStorage(borrowing: fp, count: n, owner: self), shape: shape)
        }
        let out = Tensor(zeros: shape)
        if n > 0, let p = src.baseAddress {
            type.convert(p, count: n, into: out.storage.pointer)
        }
        return out
    }
}

/// True on little-endian hosts (every platform Swift ships on today).
let hostIsLittleEndian: Bool = UInt32(1).littleEndian == 1

/// Element types stored in checkpoints that convert to fp32 elementwise.
public enum ElementType: String, Sendable, CaseIterable {
    case f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// Converts `count` little-endian elements at `src` (any alignment) to fp32 at `dst`.
    public func convert(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f64:
            for i in 0..<count { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .f16:
            for i in 0..<count { dst[i] = Half.toFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .i64:
            for i in 0..<count { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0..<count { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .i16:
            for i in 0..<count { dst[i] = Float(Int16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case .i8:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        case .u8:
            for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<count { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }
}

/// IEEE 754 binary16 conversions done on bit patterns (portable: no dependence on `Float16`).
public enum Half {
    /// binary16 bits -> Float (exact).
    @inline(__always)
    public static func toFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32((h >> 10) & 0x1f)
        let mant = UInt32(h & 0x3ff)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            let v = Float(mant) * (1.0 / 16_777_216.0)  // mant * 2^-24
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    /// Float -> binary16 bits, rounding to nearest even; overflow gives ±inf, NaN stays NaN.
    public static func fromFloat(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xff)
        var mant = x & 0x7f_ffff
        if exp == 0xff {
            return sign | 0x7c00 | (mant != 0 ? 0x200 | UInt16(truncatingIfNeeded: mant >> 13) : 0)
        }
        let e = exp - 127 + 15
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            let kept = mant >> shift
            let rem = mant & ((UInt32(1) << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            var r = kept
            if rem > halfway || (rem == halfway && (kept & 1) == 1) { r += 1 }
            return sign | UInt16(truncatingIfNeeded: r)
        }
        var h = (UInt32(e) << 10) | (mant >> 13)
        let rem = mant & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }
}
