import Foundation
import SwiftCapTensor

/// A safetensors file: `u64 LE header length N`, `N` bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
/// then the data buffer; offsets are relative to the start of the buffer.
///
/// The header is validated when the file is opened: length within bounds, valid JSON object, known
/// dtype names, offsets in range, non-overlapping and equal to `product(shape) * dtype size`.
/// F32 tensors are returned zero-copy (borrowing the mapping); F16, BF16 and the integer types
/// are converted to fp32.
public struct SafetensorsFile: TensorSource {
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// The dtype as the file names it ("F32", "F16", "BF16", "I64", …).
        public var dtype: String
        public var shape: [Int]
        /// Byte range relative to the start of the data buffer.
        public var begin: Int
        public var end: Int
    }

    /// The largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    /// dtype name -> element type (names from the safetensors specification).
    public static let dtypes: [String: ElementType] = [
        "F64": .f64, "F32": .f32, "F16": .f16, "BF16": .bf16,
        "I64": .i64, "I32": .i32, "I16": .i16, "I8": .i8, "U8": .u8, "BOOL": .bool,
    ]
    /// dtype names the specification defines that this reader recognises but cannot convert.
    static let knownUnconvertible: [String: Int] = [
        "U64": 8, "U32": 4, "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
    ]

    public let file: MappedFile
    /// Entries in data-offset order (the file's order).
    public let entries: [Entry]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    /// Absolute offset of the data buffer (8 + header length).
    public let dataStart: Int
    private let index: [String: Int]

    public init(url: URL) throws {
        try self.init(file: MappedFile(url: url))
    }

    public init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let name = file.name
        guard file.count >= 8 else {
            throw FormatError.truncated(file: name, detail: "safetensors file of \(file.count) bytes has no 8-byte header length")
        }
        let n64 = try file.readLE(UInt64.self, at: 0, what: "header length")
        guard n64 <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw FormatError.malformed(file: name, detail: "header length \(n64) exceeds the limit of \(SafetensorsFile.maxHeaderBytes) bytes")
        }
        let n = Int(n64)
        guard n >= 2 else { throw FormatError.malformed(file: name, detail: "header length \(n) is too small for a JSON object") }
        guard n <= file.count - 8 else {
            throw FormatError.truncated(file: name, detail: "header length \(n) but only \(file.count - 8) bytes follow")
        }
        let headerBytes = try file.slice(offset: 8, length: n, what: "JSON header")
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw FormatError.malformed(file: name, detail: "header does not start with '{'")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw FormatError.malformed(file: name, detail: "header is not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = json as? [String: Any] else {
            throw FormatError.malformed(file: name, detail: "header is not a JSON object")
        }
        dataStart = 8 + n
        let dataSize = file.count - dataStart
        var meta: [String: String] = [:]
        var list: [Entry] = []
        for (key, value) in dict {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw FormatError.malformed(file: name, detail: "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw FormatError.malformed(file: name, detail: "__metadata__ value for '\(k)' is not a string")
                    }
                    meta[k] = s
                }
                continue
            }
            guard let obj = value as? [String: Any] else {
                throw FormatError.badTensor(file: name, name: key, detail: "header entry is not an object")
            }
            guard let dtype = obj["dtype"] as? String else {
                throw FormatError.badTensor(file: name, name: key, detail: "missing or non-string dtype")
            }
            let elementSize: Int
            if let t = SafetensorsFile.dtypes[dtype] {
                elementSize = t.byteSize
            } else if let s = SafetensorsFile.knownUnconvertible[dtype] {
                elementSize = s
            } else {
                throw FormatError.badTensor(file: name, name: key, detail: "unknown dtype '\(dtype)'")
            }
            guard let shapeAny = obj["shape"] as? [Any] else {
                throw FormatError.badTensor(file: name, name: key, detail: "missing or non-array shape")
            }
            var shape: [Int] = []
            for d in shapeAny {
                guard let v = SafetensorsFile.nonNegativeInt(d) else {
                    throw FormatError.badTensor(file: name, name: key, detail: "shape \(shapeAny) has a non-integer or negative dimension")
                }
                shape.append(v)
            }
            guard let offsAny = obj["data_offsets"] as? [Any], offsAny.count == 2,
                  let begin = SafetensorsFile.nonNegativeInt(offsAny[0]),
                  let end = SafetensorsFile.nonNegativeInt(offsAny[1]) else {
                throw FormatError.badTensor(file: name, name: key, detail: "data_offsets must be two non-negative integers")
            }
            guard begin <= end, end <= dataSize else {
                throw FormatError.badTensor(file: name, name: key, detail: "data_offsets [\(begin), \(end)] outside the data buffer of \(dataSize) bytes")
            }
            guard let count = Checked.product(shape), let bytes = Checked.mul(count, elementSize), bytes == end - begin else {
                throw FormatError.badTensor(file: name, name: key, detail: "data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtype) needs \(Checked.product(shape).flatMap { Checked.mul($0, elementSize) }.map(String.init) ?? "too many")")
            }
            list.append(Entry(name: key, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        list.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var lastEnd = 0
        var lastName = ""
        for e in list where e.end > e.begin {
            if e.begin < lastEnd {
                throw FormatError.badTensor(file: name, name: e.name, detail: "data_offsets [\(e.begin), \(e.end)] overlap tensor '\(lastName)' (ends at \(lastEnd))")
            }
            lastEnd = e.end
            lastName = e.name
        }
        entries = list
        metadata = meta
        var idx: [String: Int] = [:]
        for (i, e) in list.enumerated() { idx[e.name] = i }
        index = idx
    }

    /// A JSON number that is an exact non-negative integer.
    private static func nonNegativeInt(_ v: Any) -> Int? {
        if let i = v as? Int { return i >= 0 ? i : nil }
        if let d = v as? Double, d >= 0, d < 9.0e15, d == d.rounded() { return Int(d) }
        return nil
    }

    public var sourceDescription: String { file.name }
    public var tensorNames: [String] { entries.map(\.name) }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    public func tensorInfo(_ name: String) -> TensorInfo? {
        entry(name).map { TensorInfo(dtype: $0.dtype, shape: $0.shape) }
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let e = entry(name) else { throw WeightError.missing(name: name, source: file.name) }
        guard let type = SafetensorsFile.dtypes[e.dtype] else {
            throw WeightError.unsupportedDType(name: name, dtype: e.dtype, source: file.name)
        }
        return try file.tensor(offset: dataStart + e.begin, type: type, shape: e.shape, tensorName: name)
    }
}

/// Writes safetensors files (F32 or F16 storage) readable by the reference implementation.
public enum SafetensorsWriter {
    public enum StoredType: String, Sendable {
        case f32 = "F32"
        case f16 = "F16"
        var byteSize: Int { self == .f32 ? 4 : 2 }
    }

    /// The file's bytes: tensors in the given order, header padded with spaces to a multiple of 8
    /// so every tensor's data is 8-byte aligned. Names must be unique and non-empty.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], as type: StoredType = .f32,
                              metadata: [String: String] = [:]) throws -> [UInt8] {
        var seen = Set<String>()
        var header = "{"
        var first = true
        func append(_ s: String) {
            if !first { header += "," }
            first = false
            header += s
        }
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }
            append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, t) in tensors {
            guard !name.isEmpty, name != "__metadata__", seen.insert(name).inserted else {
                throw FormatError.cannotWrite(file: "safetensors", reason: "tensor name '\(name)' is empty, reserved or repeated")
            }
            let bytes = t.count * type.byteSize
            let shape = t.shape.map(String.init).joined(separator: ",")
            append("\(jsonString(name)):{\"dtype\":\"\(type.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + headerBytes.count + offset)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for (_, t) in tensors {
            t.withUnsafeBufferPointer { buf in
                switch type {
                case .f32:
                    for v in buf {
                        var b = v.bitPattern.littleEndian
                        withUnsafeBytes(of: &b) { out.append(contentsOf: $0) }
                    }
                case .f16:
                    for v in buf {
                        var b = Half.fromFloat(v).littleEndian
                        withUnsafeBytes(of: &b) { out.append(contentsOf: $0) }
                    }
                }
            }
        }
        return out
    }

    /// Writes `tensors` to `url` (atomically: a temporary file renamed into place).
    public static func write(_ tensors: [(name: String, tensor: Tensor)], to url: URL, as type: StoredType = .f32,
                             metadata: [String: String] = [:]) throws {
        let bytes: [UInt8]
        do {
            bytes = try encode(tensors, as: type, metadata: metadata)
        } catch FormatError.cannotWrite(_, let reason) {
            throw FormatError.cannotWrite(file: url.path, reason: reason)
        }
        do {
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw FormatError.cannotWrite(file: url.path, reason: error.localizedDescription)
        }
    }

    static func jsonString(_ s: String) -> String { JSONText.string(s) }
}
