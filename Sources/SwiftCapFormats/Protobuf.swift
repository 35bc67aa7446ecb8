import Foundation

/// Protocol-buffers wire types (https://protobuf.dev/programming-guides/encoding/).
public enum WireType: Int, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// A bounds-checked reader of protobuf wire format over a byte range of a `MappedFile`.
/// Offsets are absolute positions in the file, so payloads can be borrowed without copying.
public struct ProtoReader {
    public let file: MappedFile
    /// Current absolute position and the end of this message.
    public private(set) var position: Int
    public let end: Int
    /// Nesting depth of this message (checked against `maxDepth` by `message()`).
    public let depth: Int
    /// Deepest nesting accepted (guards the recursion of nested graphs against crafted files).
    public static let maxDepth = 64
    private let bytes: UnsafeRawBufferPointer

    public init(file: MappedFile, range: Range<Int>, depth: Int = 0) {
        self.file = file
        self.bytes = file.bytes
        self.position = max(0, min(range.lowerBound, file.count))
        self.end = max(self.position, min(range.upperBound, file.count))
        self.depth = depth
    }

    public var isAtEnd: Bool { position >= end }

    private func truncated(_ what: String) -> FormatError {
        .truncated(file: file.name, detail: "protobuf \(what) at byte \(position) runs past the end of its message (byte \(end))")
    }

    /// The next field's number and wire type, or nil at the end of the message.
    public mutating func nextField() throws -> (number: Int, wire: WireType)? {
        if position >= end { return nil }
        let start = position
        let key = try varint()
        let wireRaw = Int(key & 7)
        let number = key >> 3
        guard let wire = WireType(rawValue: wireRaw) else {
            throw FormatError.malformed(file: file.name, detail: "protobuf field key at byte \(start) has invalid wire type \(wireRaw)")
        }
        guard number >= 1, number <= 536_870_911 else {
            throw FormatError.malformed(file: file.name, detail: "protobuf field number \(number) at byte \(start) is out of range")
        }
        return (Int(number), wire)
    }

    /// A base-128 varint (at most 10 bytes).
    public mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw truncated("varint") }
            let b = bytes[position]
            position += 1
            if shift == 63 && b > 1 {
                throw FormatError.malformed(file: file.name, detail: "protobuf varint at byte \(position - 1) overflows 64 bits")
            }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 {
                throw FormatError.malformed(file: file.name, detail: "protobuf varint at byte \(position - 1) is longer than 10 bytes")
            }
        }
    }

    public mutating func fixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw truncated("fixed32") }
        let v = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        position += 4
        return v
    }

    public mutating func fixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw truncated("fixed64") }
        let v = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        position += 8
        return v
    }

    /// The absolute byte range of a length-delimited payload (checked against the message end).
    public mutating func lengthDelimited() throws -> Range<Int> {
        let at = position
        let n = try varint()
        guard n <= UInt64(end - position) else {
            throw FormatError.truncated(file: file.name, detail: "protobuf length \(n) at byte \(at) runs past the end of its message (byte \(end))")
        }
        let start = position
        position += Int(n)
        return start..<position
    }

    /// A nested message reader for a length-delimited payload.
    public mutating func message() throws -> ProtoReader {
        guard depth < ProtoReader.maxDepth else {
            throw FormatError.malformed(file: file.name, detail: "protobuf messages nested deeper than \(ProtoReader.maxDepth) at byte \(position)")
        }
        let r = try lengthDelimited()
        return ProtoReader(file: file, range: r, depth: depth + 1)
    }

    public mutating func string() throws -> String {
        let r = try lengthDelimited()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    public mutating func data() throws -> [UInt8] {
        let r = try lengthDelimited()
        return Array(bytes[r])
    }

    public mutating func int64() throws -> Int64 { Int64(bitPattern: try varint()) }
    /// int32 fields are sign-extended to 64 bits on the wire; take the low 32 bits.
    public mutating func int32() throws -> Int32 { Int32(truncatingIfNeeded: try varint()) }
    public mutating func float() throws -> Float { Float(bitPattern: try fixed32()) }
    public mutating func double() throws -> Double { Double(bitPattern: try fixed64()) }

    /// Skips a field's payload of the given wire type.
    public mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup, .endGroup:
            throw FormatError.unsupported(file: file.name, detail: "protobuf group wire type at byte \(position) (not used by ONNX)")
        }
    }

    // MARK: repeated scalars, packed or not

    /// Appends one or more varints (a packed run when `wire` is length-delimited).
    public mutating func appendVarints(_ wire: WireType, to out: inout [Int64]) throws {
        switch wire {
        case .varint: out.append(try int64())
        case .lengthDelimited:
            var sub = ProtoReader(file: file, range: try lengthDelimited(), depth: depth)
            while !sub.isAtEnd { out.append(try sub.int64()) }
        default: throw wrongWire(wire, expected: "varint")
        }
    }

    public mutating func appendFloats(_ wire: WireType, to out: inout [Float]) throws {
        switch wire {
        case .fixed32: out.append(try float())
        case .lengthDelimited:
            let r = try lengthDelimited()
            guard r.count % 4 == 0 else {
                throw FormatError.malformed(file: file.name, detail: "packed float field at byte \(r.lowerBound) has \(r.count) bytes, not a multiple of 4")
            }
            var sub = ProtoReader(file: file, range: r, depth: depth)
            out.reserveCapacity(out.count + r.count / 4)
            while !sub.isAtEnd { out.append(try sub.float()) }
        default: throw wrongWire(wire, expected: "fixed32")
        }
    }

    public mutating func appendDoubles(_ wire: WireType, to out: inout [Double]) throws {
        switch wire {
        case .fixed64: out.append(try double())
        case .lengthDelimited:
            let r = try lengthDelimited()
            guard r.count % 8 == 0 else {
                throw FormatError.malformed(file: file.name, detail: "packed double field at byte \(r.lowerBound) has \(r.count) bytes, not a multiple of 8")
            }
            var sub = ProtoReader(file: file, range: r, depth: depth)
            while !sub.isAtEnd { out.append(try sub.double()) }
        default: throw wrongWire(wire, expected: "fixed64")
        }
    }

    public func wrongWire(_ wire: WireType, expected: String) -> FormatError {
        .malformed(file: file.name, detail: "protobuf field before byte \(position) has wire type \(wire) where \(expected) was expected")
    }

    /// Checks that `wire` is `expected`.
    public func expect(_ wire: WireType, _ expected: WireType, field: String) throws {
        guard wire == expected else {
            throw FormatError.malformed(file: file.name, detail: "protobuf field \(field) before byte \(position) has wire type \(wire), expected \(expected)")
        }
    }
}
