import Foundation

/// A value produced by the restricted pickle reader. Lists and dicts are reference types because
/// pickle mutates them after they are memoized (APPENDS/SETITEMS on a shared object).
public indirect enum PickleValue: CustomStringConvertible, @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer wider than 64 bits: little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A class or function named by GLOBAL/STACK_GLOBAL (only allow-listed names get this far).
    case global(module: String, name: String)
    /// A storage reference from a persistent id.
    case storage(TorchStorageRef)
    /// A tensor rebuilt by `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`.
    case tensor(TorchTensorRef)

    public var description: String { summary(depth: 4) }

    /// A short rendering: at most `depth` levels and 8 items per container (values may be cyclic).
    public func summary(depth: Int) -> String {
        func items(_ xs: [String], _ total: Int) -> String {
            xs.joined(separator: ", ") + (total > xs.count ? ", … (\(total) items)" : "")
        }
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt(let b): return "int(\(b.count) bytes)"
        case .float(let d): return String(d)
        case .string(let s): return s.count > 80 ? "'\(s.prefix(80))…'" : "'\(s)'"
        case .bytes(let b): return "b<\(b.count) bytes>"
        case .tuple(let t):
            if depth <= 0 { return "(…)" }
            return "(" + items(t.prefix(8).map { $0.summary(depth: depth - 1) }, t.count) + ")"
        case .list(let l):
            if depth <= 0 { return "[…]" }
            return "[" + items(l.items.prefix(8).map { $0.summary(depth: depth - 1) }, l.items.count) + "]"
        case .dict(let d):
            if depth <= 0 { return "{…}" }
            return "{" + items(d.items.prefix(8).map { "\($0.key.summary(depth: depth - 1)): \($0.value.summary(depth: depth - 1))" }, d.items.count) + "}"
        case .global(let m, let n): return "\(m).\(n)"
        case .storage(let s): return "storage(\(s.key), \(s.dtype.rawValue), \(s.numel))"
        case .tensor(let t): return "tensor(\(t.storage.dtype.rawValue), \(t.shape))"
        }
    }

    var asString: String? { if case .string(let s) = self { return s }; return nil }
    var asInt: Int64? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    /// Elements of a tuple or list.
    var asSequence: [PickleValue]? {
        switch self {
        case .tuple(let t): return t
        case .list(let l): return l.items
        default: return nil
        }
    }
}

/// Mutated only while its pickle is being read; immutable once `load()` returns.
public final class PickleList: @unchecked Sendable {
    public var items: [PickleValue]
    /// Nesting depth (1 + deepest item), tracked so crafted files cannot build unbounded nesting.
    var depth: Int = 1
    init(_ items: [PickleValue] = [], depth: Int = 1) { self.items = items; self.depth = depth }
}

/// An insertion-ordered dict (pickled dicts and OrderedDicts alike); immutable once `load()` returns.
public final class PickleDict: @unchecked Sendable {
    public var items: [(key: PickleValue, value: PickleValue)] = []
    /// State applied by BUILD (e.g. a state_dict's `_metadata`), kept but not interpreted.
    public var state: PickleValue?
    var depth: Int = 1
    private var stringIndex: [String: Int] = [:]
    init() {}

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let s = key.asString {
            if let i = stringIndex[s] { items[i].value = value; return }
            stringIndex[s] = items.count
        }
        items.append((key, value))
    }

    public subscript(_ key: String) -> PickleValue? { stringIndex[key].map { items[$0].value } }
}

/// Storage element types PyTorch pickles by class name (`torch.FloatStorage`, …).
public enum TorchDType: String, Sendable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    public var elementType: ElementType {
        switch self {
        case .float32: return .f32
        case .float64: return .f64
        case .float16: return .f16
        case .bfloat16: return .bf16
        case .int64: return .i64
        case .int32: return .i32
        case .int16: return .i16
        case .int8: return .i8
        case .uint8: return .u8
        case .bool: return .bool
        }
    }

    /// The dtype for a `torch.<Name>Storage` class name.
    static func fromStorageClass(_ name: String) -> TorchDType? {
        switch name {
        case "FloatStorage": return .float32
        case "DoubleStorage": return .float64
        case "HalfStorage": return .float16
        case "BFloat16Storage": return .bfloat16
        case "LongStorage": return .int64
        case "IntStorage": return .int32
        case "ShortStorage": return .int16
        case "CharStorage": return .int8
        case "ByteStorage": return .uint8
        case "BoolStorage": return .bool
        default: return nil
        }
    }
}

/// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel[, view])`.
public final class TorchStorageRef: Sendable {
    public let key: String
    public let dtype: TorchDType
    public let location: String
    public let numel: Int
    /// Legacy-format storage views: (root key, element offset, element count).
    public let view: (root: String, offset: Int, size: Int)?
    init(key: String, dtype: TorchDType, location: String, numel: Int, view: (String, Int, Int)?) {
        self.key = key; self.dtype = dtype; self.location = location; self.numel = numel; self.view = view
    }
}

/// A strided tensor over a storage (sizes, strides and offset in elements).
public final class TorchTensorRef: Sendable {
    public let storage: TorchStorageRef
    public let storageOffset: Int
    public let shape: [Int]
    public let strides: [Int]
    init(storage: TorchStorageRef, storageOffset: Int, shape: [Int], strides: [Int]) {
        self.storage = storage; self.storageOffset = storageOffset; self.shape = shape; self.strides = strides
    }
}

/// A pickle virtual machine that understands only what PyTorch state_dicts use. It never imports or
/// calls anything: GLOBAL/STACK_GLOBAL names outside a fixed allow-list, and any opcode not listed
/// here, are errors. REDUCE is interpreted for the allow-listed callables only.
public struct PickleReader {
    /// Callables and classes accepted from GLOBAL/STACK_GLOBAL.
    public static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "builtins.dict", "__builtin__.dict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "_codecs.encode", "torch.device",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
        "torch.ByteStorage", "torch.BoolStorage",
    ]
    /// Largest number of values on the stack + memo, guarding memory against crafted files.
    public static let maxObjects = 50_000_000

    let file: MappedFile
    let bytes: UnsafeRawBufferPointer
    var pos: Int
    let end: Int
    /// Values with their nesting depth; a nil value is a MARK.
    private var stack: [(value: PickleValue?, depth: Int)] = []
    private var memo: [Int: (value: PickleValue, depth: Int)] = [:]
    /// Deepest nesting of containers accepted (deallocating deeper values could exhaust the stack).
    public static let maxDepth = 1000
    private let persistentLoad: (PickleValue) throws -> PickleValue

    /// Reads one pickle starting at `offset` of `file`, ending before `end`.
    /// `persistentLoad` resolves BINPERSID ids (nil: persistent ids are an error).
    public init(file: MappedFile, offset: Int = 0, end: Int? = nil, persistentLoad: ((PickleValue) throws -> PickleValue)? = nil) {
        self.file = file
        self.bytes = file.bytes
        self.pos = max(0, min(offset, file.count))
        self.end = max(pos, min(end ?? file.count, file.count))
        let name = file.name
        self.persistentLoad = persistentLoad ?? { pid in
            throw FormatError.unsupported(file: name, detail: "pickle persistent id \(pid) where none is expected")
        }
    }

    /// Byte position after the last STOP read.
    public var position: Int { pos }

    private func fail(_ detail: String) -> FormatError {
        .malformed(file: file.name, detail: "pickle at byte \(pos): \(detail)")
    }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= end - pos else {
            throw FormatError.truncated(file: file.name, detail: "pickle needs \(n) bytes at byte \(pos) but \(end - pos) remain")
        }
        let s = UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
        pos += n
        return s
    }

    private mutating func u8() throws -> UInt8 { try take(1)[0] }
    private mutating func le<T: FixedWidthInteger>(_ t: T.Type) throws -> T {
        T(littleEndian: try take(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }
    private mutating func line() throws -> String {
        var i = pos
        while i < end, bytes[i] != 0x0a { i += 1 }
        guard i < end else { throw FormatError.truncated(file: file.name, detail: "pickle text argument at byte \(pos) has no newline") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<i]), as: UTF8.self)
        pos = i + 1
        return s
    }

    private mutating func push(_ v: PickleValue, depth: Int = 0) throws {
        guard stack.count < PickleReader.maxObjects else { throw fail("more than \(PickleReader.maxObjects) objects on the stack") }
        guard depth <= PickleReader.maxDepth else { throw fail("containers nested deeper than \(PickleReader.maxDepth)") }
        stack.append((v, depth))
    }

    /// Pushes a container holding `items` of the given depths.
    private mutating func pushContainer(_ v: PickleValue, children: [Int]) throws {
        try push(v, depth: 1 + (children.max() ?? 0))
    }

    private mutating func popEntry() throws -> (value: PickleValue, depth: Int) {
        guard let top = stack.popLast() else { throw fail("stack underflow") }
        guard let v = top.value else { throw fail("unexpected MARK on the stack") }
        return (v, top.depth)
    }

    private mutating func pop() throws -> PickleValue { try popEntry().value }

    private mutating func popToMark() throws -> (values: [PickleValue], depths: [Int]) {
        guard let m = stack.lastIndex(where: { $0.value == nil }) else { throw fail("no MARK on the stack") }
        let items = stack[(m + 1)...]
        let out = (items.compactMap(\.value), items.map(\.depth))
        stack.removeSubrange(m...)
        return out
    }

    private func top() throws -> PickleValue { try topEntry().value }

    private func topEntry() throws -> (value: PickleValue, depth: Int) {
        guard let last = stack.last, let v = last.value else { throw fail("empty stack or MARK where a value is needed") }
        return (v, last.depth)
    }

    /// Records that the container on top of the stack now holds items as deep as `childDepth`.
    private mutating func deepenTop(_ childDepth: Int) throws {
        guard childDepth + 1 <= PickleReader.maxDepth else { throw fail("containers nested deeper than \(PickleReader.maxDepth)") }
        let i = stack.count - 1
        guard i >= 0 else { return }
        if stack[i].depth < childDepth + 1 { stack[i].depth = childDepth + 1 }
        switch stack[i].value {
        case .list(let l)?: l.depth = max(l.depth, childDepth + 1)
        case .dict(let d)?: d.depth = max(d.depth, childDepth + 1)
        default: break
        }
    }

    private mutating func memoize(_ index: Int) throws {
        guard memo.count < PickleReader.maxObjects else { throw fail("memo too large") }
        memo[index] = try topEntry()
    }

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        let full = module + "." + name
        guard PickleReader.allowedGlobals.contains(full) else {
            throw FormatError.unsupported(file: file.name, detail: "pickle references '\(full)', which is not on the state_dict allow-list (no code is executed)")
        }
        return .global(module: module, name: name)
    }

    private static func littleEndianInt(_ b: UnsafeRawBufferPointer) -> PickleValue {
        if b.isEmpty { return .int(0) }
        if b.count <= 8 {
            var v: UInt64 = 0
            for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
            if b.count < 8, b[b.count - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(b.count)) }  // sign-extend
            return .int(Int64(bitPattern: v))
        }
        return .bigInt(Array(b))
    }

    /// Runs until STOP and returns the pickled object.
    public mutating func load() throws -> PickleValue {
        stack.removeAll()
        memo.removeAll()
        while true {
            let opPos = pos
            let op = try u8()
            switch op {
            case 0x80: // PROTO
                let v = try u8()
                guard v >= 2 && v <= 5 else { throw fail("pickle protocol \(v) (2-5 supported)") }
            case 0x95: _ = try le(UInt64.self) // FRAME: framing is transparent for an in-memory reader
            case 0x2e: // STOP
                let v = try pop()
                return v
            case 0x7d: try push(.dict(PickleDict())) // EMPTY_DICT
            case 0x5d: try push(.list(PickleList())) // EMPTY_LIST
            case 0x29: try push(.tuple([])) // EMPTY_TUPLE
            case 0x28: stack.append((nil, 0)) // MARK
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popToMark() // POP_MARK
            case 0x32: let e = try topEntry(); try push(e.value, depth: e.depth) // DUP
            case 0x71: try memoize(Int(try u8())) // BINPUT
            case 0x72: try memoize(Int(try le(UInt32.self))) // LONG_BINPUT
            case 0x94: try memoize(memo.count) // MEMOIZE
            case 0x68, 0x6a: // BINGET, LONG_BINGET
                let i = op == 0x68 ? Int(try u8()) : Int(try le(UInt32.self))
                guard let v = memo[i] else { throw fail("memo key \(i) not defined") }
                // a list/dict may have grown since it was memoized: use its current depth
                switch v.value {
                case .list(let l): try push(v.value, depth: max(v.depth, l.depth))
                case .dict(let d): try push(v.value, depth: max(v.depth, d.depth))
                default: try push(v.value, depth: v.depth)
                }
            case 0x58, 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let n: UInt64 = op == 0x58 ? UInt64(try le(UInt32.self)) : op == 0x8c ? UInt64(try u8()) : try le(UInt64.self)
                guard n <= UInt64(end - pos) else { throw FormatError.truncated(file: file.name, detail: "pickle string of \(n) bytes at byte \(pos) runs past the end") }
                try push(.string(String(decoding: try take(Int(n)), as: UTF8.self)))
            case 0x54, 0x55: // BINSTRING, SHORT_BINSTRING (protocol-1 str; decoded as latin-1 like Python 3 does by default for ASCII)
                let n = op == 0x54 ? Int(try le(Int32.self)) : Int(try u8())
                guard n >= 0 else { throw fail("negative string length") }
                try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x42, 0x43, 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
                let n: UInt64 = op == 0x42 ? UInt64(try le(UInt32.self)) : op == 0x43 ? UInt64(try u8()) : try le(UInt64.self)
                guard n <= UInt64(end - pos) else { throw FormatError.truncated(file: file.name, detail: "pickle bytes of \(n) at byte \(pos) run past the end") }
                try push(.bytes(Array(try take(Int(n)))))
            case 0x4a: try push(.int(Int64(try le(Int32.self)))) // BININT
            case 0x4b: try push(.int(Int64(try u8()))) // BININT1
            case 0x4d: try push(.int(Int64(try le(UInt16.self)))) // BININT2
            case 0x8a, 0x8b: // LONG1, LONG4
                let n = op == 0x8a ? Int(try u8()) : Int(try le(Int32.self))
                guard n >= 0, n <= 1 << 20 else { throw fail("integer of \(n) bytes") }
                try push(PickleReader.littleEndianInt(try take(n)))
            case 0x47: // BINFLOAT (big-endian double)
                try push(.float(Double(bitPattern: UInt64(bigEndian: try take(8).loadUnaligned(as: UInt64.self)))))
            case 0x4e: try push(.none) // NONE
            case 0x88: try push(.bool(true)) // NEWTRUE
            case 0x89: try push(.bool(false)) // NEWFALSE
            case 0x74: let m = try popToMark(); try pushContainer(.tuple(m.values), children: m.depths) // TUPLE
            case 0x85: let a = try popEntry(); try pushContainer(.tuple([a.value]), children: [a.depth]) // TUPLE1
            case 0x86: // TUPLE2
                let b = try popEntry(), a = try popEntry()
                try pushContainer(.tuple([a.value, b.value]), children: [a.depth, b.depth])
            case 0x87: // TUPLE3
                let c = try popEntry(), b = try popEntry(), a = try popEntry()
                try pushContainer(.tuple([a.value, b.value, c.value]), children: [a.depth, b.depth, c.depth])
            case 0x6c: // LIST
                let m = try popToMark()
                let d = 1 + (m.depths.max() ?? 0)
                try push(.list(PickleList(m.values, depth: d)), depth: d)
            case 0x61: // APPEND
                let v = try popEntry()
                guard case .list(let l) = try top() else { throw fail("APPEND to a non-list") }
                l.items.append(v.value)
                try deepenTop(v.depth)
            case 0x65: // APPENDS
                let m = try popToMark()
                guard case .list(let l) = try top() else { throw fail("APPENDS to a non-list") }
                l.items += m.values
                try deepenTop(m.depths.max() ?? 0)
            case 0x64: // DICT
                let m = try popToMark()
                let vs = m.values
                guard vs.count % 2 == 0 else { throw fail("DICT with an odd number of items") }
                let d = PickleDict()
                for i in stride(from: 0, to: vs.count, by: 2) { d.set(vs[i], vs[i + 1]) }
                d.depth = 1 + (m.depths.max() ?? 0)
                try push(.dict(d), depth: d.depth)
            case 0x73: // SETITEM
                let v = try popEntry(), k = try popEntry()
                guard case .dict(let d) = try top() else { throw fail("SETITEM on a non-dict") }
                d.set(k.value, v.value)
                try deepenTop(max(k.depth, v.depth))
            case 0x75: // SETITEMS
                let m = try popToMark()
                let vs = m.values
                guard vs.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
                guard case .dict(let d) = try top() else { throw fail("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: vs.count, by: 2) { d.set(vs[i], vs[i + 1]) }
                try deepenTop(m.depths.max() ?? 0)
            case 0x63: // GLOBAL
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x93: // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.asString, let n = name.asString else { throw fail("STACK_GLOBAL with non-string names") }
                try push(try global(m, n))
            case 0x51: // BINPERSID
                let pid = try popEntry()
                try push(try persistentLoad(pid.value), depth: pid.depth)
            case 0x52, 0x81: // REDUCE; NEWOBJ (cls.__new__(cls, *args)) treated alike for allow-listed classes
                let args = try popEntry(), callable = try pop()
                try push(try reduce(callable, args.value), depth: args.depth + 1)
            case 0x62: // BUILD
                let state = try popEntry()
                let obj = try top()
                switch obj {
                case .dict(let d): d.state = state.value; try deepenTop(state.depth)
                case .tensor: break  // tensor state (e.g. Parameter attributes) is not needed
                default: throw fail("BUILD on \(obj)")
                }
            default:
                throw FormatError.unsupported(file: file.name, detail: String(format: "pickle opcode 0x%02x at byte \(opPos) is not supported by this state_dict reader", op))
            }
        }
    }

    private func intList(_ v: PickleValue, _ what: String) throws -> [Int] {
        guard let seq = v.asSequence else { throw fail("\(what) is not a tuple: \(v)") }
        return try seq.map {
            guard let i = $0.asInt, i >= 0, i <= Int64(Int32.max) * 1024 else { throw fail("\(what) has a bad entry \($0)") }
            return Int(i)
        }
    }

    private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable else { throw fail("REDUCE on a non-callable \(callable)") }
        let a = args.asSequence ?? []
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            let d = PickleDict()
            if let first = a.first, case .list(let l) = first {
                for pair in l.items {
                    guard let kv = pair.asSequence, kv.count == 2 else { throw fail("OrderedDict item is not a pair") }
                    d.set(kv[0], kv[1])
                }
            }
            return .dict(d)
        case ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"):
            guard a.count >= 4, case .storage(let s) = a[0], let off = a[1].asInt, off >= 0 else {
                throw fail("\(module).\(name) arguments \(args) are not (storage, offset, size, stride, …)")
            }
            let shape = try intList(a[2], "tensor size")
            let strides = try intList(a[3], "tensor stride")
            guard shape.count == strides.count else { throw fail("tensor size \(shape) and stride \(strides) differ in rank") }
            return .tensor(TorchTensorRef(storage: s, storageOffset: Int(off), shape: shape, strides: strides))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            guard let first = a.first, case .tensor = first else { throw fail("\(module).\(name) without a tensor argument") }
            return first
        case ("_codecs", "encode"):
            guard let s = a.first?.asString else { throw fail("_codecs.encode without a string") }
            // Python pickles bytes at protocol 2 as encode(latin-1 text): map code points back to bytes.
            return .bytes(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case ("torch", "device"):
            return .string(a.first?.asString ?? "cpu")
        default:
            throw FormatError.unsupported(file: file.name, detail: "pickle calls '\(module).\(name)', which is not a state_dict constructor")
        }
    }
}
