import Foundation
import SwiftCapTensor

/// ONNX `TensorProto.DataType` values.
public enum ONNXDataType: Int32, Sendable, CaseIterable {
    case undefined = 0, float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7
    case string = 8, bool = 9, float16 = 10, double = 11, uint32 = 12, uint64 = 13
    case complex64 = 14, complex128 = 15, bfloat16 = 16

    /// The name ONNX uses ("FLOAT", "INT64", …); unknown codes print as "DTYPE_<n>".
    public static func name(_ code: Int32) -> String {
        guard let t = ONNXDataType(rawValue: code) else { return "DTYPE_\(code)" }
        return String(describing: t).uppercased()
    }

    /// The element type used to convert raw data to fp32, when there is one.
    var elementType: ElementType? {
        switch self {
        case .float: return .f32
        case .double: return .f64
        case .float16: return .f16
        case .bfloat16: return .bf16
        case .int64: return .i64
        case .int32: return .i32
        case .int16: return .i16
        case .int8: return .i8
        case .uint8: return .u8
        case .bool: return .bool
        default: return nil
        }
    }
}

/// A tensor stored in an ONNX file (an initializer or a TENSOR attribute).
public struct ONNXTensor: Sendable {
    /// Where the elements are.
    public enum Payload: Sendable {
        /// `raw_data`: little-endian bytes at this absolute range of the file.
        case raw(Range<Int>)
        case floats([Float])
        /// `int32_data`: INT32/INT16/INT8/UINT16/UINT8/BOOL values, FLOAT16/BFLOAT16 bit patterns.
        case int32s([Int64])
        case int64s([Int64])
        case doubles([Double])
        case uint64s([Int64])
        case strings([[UInt8]])
        /// Stored outside the file (`data_location = EXTERNAL`).
        case external([String: String])
        case empty
    }

    public var name: String
    public var dims: [Int]
    public var dataType: Int32
    public var payload: Payload

    public var dataTypeName: String { ONNXDataType.name(dataType) }
}

/// One attribute of a node.
public struct ONNXAttribute: Sendable {
    public indirect enum Value: Sendable {
        case float(Float)
        case int(Int64)
        case string([UInt8])
        case tensor(ONNXTensor)
        case graph(ONNXGraph)
        case floats([Float])
        case ints([Int64])
        case strings([[UInt8]])
        case tensors([ONNXTensor])
        case graphs([ONNXGraph])
        /// A type this reader does not decode (sparse tensors, type protos), by its AttributeType code.
        case other(type: Int64)
    }

    public var name: String
    public var value: Value

    /// "FLOAT", "INTS", … (AttributeType names).
    public var typeName: String {
        switch value {
        case .float: return "FLOAT"
        case .int: return "INT"
        case .string: return "STRING"
        case .tensor: return "TENSOR"
        case .graph: return "GRAPH"
        case .floats: return "FLOATS"
        case .ints: return "INTS"
        case .strings: return "STRINGS"
        case .tensors: return "TENSORS"
        case .graphs: return "GRAPHS"
        case .other(let t): return "TYPE_\(t)"
        }
    }
}

/// A graph node.
public struct ONNXNode: Sendable {
    public var name: String
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [ONNXAttribute]

    public func attribute(_ name: String) -> ONNXAttribute.Value? {
        attributes.first { $0.name == name }?.value
    }

    /// INT attribute `name`, or nil when absent or of another type.
    public func int(_ name: String) -> Int64? {
        if case .int(let v)? = attribute(name) { return v }
        return nil
    }

    /// FLOAT attribute `name`.
    public func float(_ name: String) -> Float? {
        if case .float(let v)? = attribute(name) { return v }
        return nil
    }

    /// STRING attribute `name`, decoded as UTF-8.
    public func string(_ name: String) -> String? {
        if case .string(let v)? = attribute(name) { return String(decoding: v, as: UTF8.self) }
        return nil
    }

    /// INTS attribute `name`.
    public func ints(_ name: String) -> [Int64]? {
        if case .ints(let v)? = attribute(name) { return v }
        return nil
    }

    /// FLOATS attribute `name`.
    public func floats(_ name: String) -> [Float]? {
        if case .floats(let v)? = attribute(name) { return v }
        return nil
    }

    /// TENSOR attribute `name` (e.g. a Constant's `value`).
    public func tensorAttribute(_ name: String) -> ONNXTensor? {
        if case .tensor(let v)? = attribute(name) { return v }
        return nil
    }
}

/// A graph input, output or value_info: a name and, for tensors, the element type and shape.
public struct ONNXValueInfo: Sendable, Equatable {
    public enum Dim: Sendable, Equatable, CustomStringConvertible {
        case value(Int64)
        case param(String)
        case unknown
        public var description: String {
            switch self {
            case .value(let v): return String(v)
            case .param(let p): return p
            case .unknown: return "?"
            }
        }
    }

    public var name: String
    /// ONNX data type code of the tensor's elements (0 when not a tensor type).
    public var elementType: Int32
    /// nil when the type has no shape.
    public var shape: [Dim]?
}

public struct ONNXGraph: Sendable {
    public var name: String
    public var nodes: [ONNXNode]
    public var initializers: [ONNXTensor]
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
    public var valueInfo: [ONNXValueInfo]
}

/// An ONNX model (`ModelProto`), decoded with a hand-written protobuf reader. Initializers are
/// exposed as a `TensorSource`; their `raw_data` is read in place from the mapped file.
public struct ONNXModel: TensorSource {
    public struct OpsetID: Sendable, Equatable {
        public var domain: String
        public var version: Int64
    }

    public let file: MappedFile
    public var irVersion: Int64
    public var producerName: String
    public var producerVersion: String
    public var domain: String
    public var modelVersion: Int64
    public var opsetImports: [OpsetID]
    public var metadata: [String: String]
    public var graph: ONNXGraph
    private let initializerIndex: [String: Int]

    public init(url: URL) throws { try self.init(file: MappedFile(url: url)) }
    public init(path: String) throws { try self.init(file: MappedFile(path: path)) }

    public init(file: MappedFile) throws {
        self.file = file
        guard file.count > 0 else {
            throw FormatError.truncated(file: file.name, detail: "empty file is not an ONNX model")
        }
        var r = ProtoReader(file: file, range: 0..<file.count)
        var ir: Int64 = 0, pname = "", pversion = "", dom = "", mversion: Int64 = 0
        var opsets: [OpsetID] = []
        var meta: [String: String] = [:]
        var g: ONNXGraph?
        while let (field, wire) = try r.nextField() {
            switch field {
            case 1: try r.expect(wire, .varint, field: "ModelProto.ir_version"); ir = try r.int64()
            case 2: try r.expect(wire, .lengthDelimited, field: "ModelProto.producer_name"); pname = try r.string()
            case 3: try r.expect(wire, .lengthDelimited, field: "ModelProto.producer_version"); pversion = try r.string()
            case 4: try r.expect(wire, .lengthDelimited, field: "ModelProto.domain"); dom = try r.string()
            case 5: try r.expect(wire, .varint, field: "ModelProto.model_version"); mversion = try r.int64()
            case 7:
                try r.expect(wire, .lengthDelimited, field: "ModelProto.graph")
                var sub = try r.message()
                g = try ONNXModel.parseGraph(&sub)
            case 8:
                try r.expect(wire, .lengthDelimited, field: "ModelProto.opset_import")
                var sub = try r.message()
                var op = OpsetID(domain: "", version: 0)
                while let (f, w) = try sub.nextField() {
                    switch f {
                    case 1: try sub.expect(w, .lengthDelimited, field: "OperatorSetIdProto.domain"); op.domain = try sub.string()
                    case 2: try sub.expect(w, .varint, field: "OperatorSetIdProto.version"); op.version = try sub.int64()
                    default: try sub.skip(w)
                    }
                }
                opsets.append(op)
            case 14:
                try r.expect(wire, .lengthDelimited, field: "ModelProto.metadata_props")
                let (k, v) = try readStringStringEntry(&r)
                meta[k] = v
            default:
                try r.skip(wire)
            }
        }
        guard let g else {
            throw FormatError.malformed(file: file.name, detail: "ModelProto has no graph (is this an ONNX file?)")
        }
        irVersion = ir
        producerName = pname
        producerVersion = pversion
        domain = dom
        modelVersion = mversion
        opsetImports = opsets
        metadata = meta
        graph = g
        var idx: [String: Int] = [:]
        for (i, t) in g.initializers.enumerated() where idx[t.name] == nil { idx[t.name] = i }
        initializerIndex = idx
    }

    /// The default-domain ("" or "ai.onnx") opset version, if imported.
    public var opsetVersion: Int64? {
        opsetImports.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version
    }

    // MARK: TensorSource (initializers)

    public var sourceDescription: String { file.name }
    public var tensorNames: [String] { graph.initializers.map(\.name) }

    /// The tensor produced by a `Constant` node with output `name` (its `value` attribute), if any.
    public func constant(_ name: String) -> ONNXTensor? {
        for n in graph.nodes where n.opType == "Constant" && n.outputs.first == name {
            return n.tensorAttribute("value")
        }
        return nil
    }

    public func initializer(_ name: String) -> ONNXTensor? {
        initializerIndex[name].map { graph.initializers[$0] }
    }

    public func tensorInfo(_ name: String) -> TensorInfo? {
        initializer(name).map { TensorInfo(dtype: $0.dataTypeName, shape: $0.dims) }
    }

    public func loadTensor(_ name: String) throws -> Tensor {
        guard let t = initializer(name) else { throw WeightError.missing(name: name, source: file.name) }
        return try tensor(t)
    }

    /// Any tensor of this model (an initializer or a TENSOR attribute, e.g. a Constant's value) as fp32.
    public func tensor(_ t: ONNXTensor) throws -> Tensor {
        let n = try elementCount(t)
        func check(_ have: Int) throws {
            guard have == n else {
                throw FormatError.badTensor(file: file.name, name: t.name, detail: "holds \(have) values but dims \(t.dims) need \(n)")
            }
        }
        let dtype = ONNXDataType(rawValue: t.dataType)
        switch t.payload {
        case .raw(let range):
            guard let et = dtype?.elementType else {
                throw WeightError.unsupportedDType(name: t.name, dtype: t.dataTypeName, source: file.name)
            }
            guard let need = Checked.mul(n, et.byteSize), need == range.count else {
                throw FormatError.badTensor(file: file.name, name: t.name, detail: "raw_data has \(range.count) bytes but dims \(t.dims) of \(t.dataTypeName) need \(Checked.mul(n, et.byteSize).map(String.init) ?? "too many")")
            }
            return try file.tensor(offset: range.lowerBound, type: et, shape: t.dims, tensorName: t.name)
        case .floats(let v):
            guard dtype == .float else { throw payloadMismatch(t, "float_data") }
            try check(v.count)
            return Tensor(v, shape: t.dims)
        case .doubles(let v):
            guard dtype == .double else { throw payloadMismatch(t, "double_data") }
            try check(v.count)
            return Tensor(v.map { Float($0) }, shape: t.dims)
        case .int64s(let v):
            guard dtype == .int64 else { throw payloadMismatch(t, "int64_data") }
            try check(v.count)
            return Tensor(v.map { Float($0) }, shape: t.dims)
        case .uint64s(let v):
            guard dtype == .uint64 || dtype == .uint32 else { throw payloadMismatch(t, "uint64_data") }
            try check(v.count)
            return Tensor(v.map { Float(UInt64(bitPattern: $0)) }, shape: t.dims)
        case .int32s(let v):
            try check(v.count)
            switch dtype {
            case .int32, .int16, .int8, .uint16, .uint8:
                return Tensor(v.map { Float(Int32(truncatingIfNeeded: $0)) }, shape: t.dims)
            case .bool:
                return Tensor(v.map { $0 != 0 ? 1 : 0 }, shape: t.dims)
            case .float16:
                return Tensor(v.map { Half.toFloat(UInt16(truncatingIfNeeded: $0)) }, shape: t.dims)
            case .bfloat16:
                return Tensor(v.map { Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16) }, shape: t.dims)
            default:
                throw payloadMismatch(t, "int32_data")
            }
        case .empty:
            try check(0)
            return Tensor(zeros: t.dims)
        case .strings:
            throw WeightError.unsupportedDType(name: t.name, dtype: t.dataTypeName, source: file.name)
        case .external(let info):
            throw FormatError.unsupported(file: file.name, detail: "tensor '\(t.name)' is stored in external data (\(info["location"] ?? "unknown location"))")
        }
    }

    private func payloadMismatch(_ t: ONNXTensor, _ field: String) -> FormatError {
        .badTensor(file: file.name, name: t.name, detail: "\(field) does not fit data_type \(t.dataTypeName)")
    }

    private func elementCount(_ t: ONNXTensor) throws -> Int {
        guard let n = Checked.product(t.dims) else {
            throw FormatError.badTensor(file: file.name, name: t.name, detail: "dims \(t.dims) are negative or too large")
        }
        return n
    }

    // MARK: decoding

    static func parseGraph(_ r: inout ProtoReader) throws -> ONNXGraph {
        var g = ONNXGraph(name: "", nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [])
        while let (field, wire) = try r.nextField() {
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: "GraphProto.node")
                var sub = try r.message()
                g.nodes.append(try parseNode(&sub))
            case 2: try r.expect(wire, .lengthDelimited, field: "GraphProto.name"); g.name = try r.string()
            case 5:
                try r.expect(wire, .lengthDelimited, field: "GraphProto.initializer")
                var sub = try r.message()
                g.initializers.append(try parseTensor(&sub))
            case 11, 12, 13:
                try r.expect(wire, .lengthDelimited, field: "GraphProto.input/output/value_info")
                var sub = try r.message()
                let v = try parseValueInfo(&sub)
                if field == 11 { g.inputs.append(v) } else if field == 12 { g.outputs.append(v) } else { g.valueInfo.append(v) }
            default:
                try r.skip(wire)
            }
        }
        return g
    }

    static func parseNode(_ r: inout ProtoReader) throws -> ONNXNode {
        var n = ONNXNode(name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [])
        while let (field, wire) = try r.nextField() {
            switch field {
            case 1: try r.expect(wire, .lengthDelimited, field: "NodeProto.input"); n.inputs.append(try r.string())
            case 2: try r.expect(wire, .lengthDelimited, field: "NodeProto.output"); n.outputs.append(try r.string())
            case 3: try r.expect(wire, .lengthDelimited, field: "NodeProto.name"); n.name = try r.string()
            case 4: try r.expect(wire, .lengthDelimited, field: "NodeProto.op_type"); n.opType = try r.string()
            case 7: try r.expect(wire, .lengthDelimited, field: "NodeProto.domain"); n.domain = try r.string()
            case 5:
                try r.expect(wire, .lengthDelimited, field: "NodeProto.attribute")
                var sub = try r.message()
                n.attributes.append(try parseAttribute(&sub))
            default: try r.skip(wire)
            }
        }
        return n
    }

    static func parseAttribute(_ r: inout ProtoReader) throws -> ONNXAttribute {
        var name = ""
        var type: Int64 = 0
        var f: Float = 0, i: Int64 = 0, s: [UInt8] = []
        var t: ONNXTensor?, g: ONNXGraph?
        var floats: [Float] = [], ints: [Int64] = [], strings: [[UInt8]] = []
        var tensors: [ONNXTensor] = [], graphs: [ONNXGraph] = []
        while let (field, wire) = try r.nextField() {
            switch field {
            case 1: try r.expect(wire, .lengthDelimited, field: "AttributeProto.name"); name = try r.string()
            case 20: try r.expect(wire, .varint, field: "AttributeProto.type"); type = try r.int64()
            case 2: try r.expect(wire, .fixed32, field: "AttributeProto.f"); f = try r.float()
            case 3: try r.expect(wire, .varint, field: "AttributeProto.i"); i = try r.int64()
            case 4: try r.expect(wire, .lengthDelimited, field: "AttributeProto.s"); s = try r.data()
            case 5:
                try r.expect(wire, .lengthDelimited, field: "AttributeProto.t")
                var sub = try r.message()
                t = try parseTensor(&sub)
            case 6:
                try r.expect(wire, .lengthDelimited, field: "AttributeProto.g")
                var sub = try r.message()
                g = try parseGraph(&sub)
            case 7: try r.appendFloats(wire, to: &floats)
            case 8: try r.appendVarints(wire, to: &ints)
            case 9: try r.expect(wire, .lengthDelimited, field: "AttributeProto.strings"); strings.append(try r.data())
            case 10:
                try r.expect(wire, .lengthDelimited, field: "AttributeProto.tensors")
                var sub = try r.message()
                tensors.append(try parseTensor(&sub))
            case 11:
                try r.expect(wire, .lengthDelimited, field: "AttributeProto.graphs")
                var sub = try r.message()
                graphs.append(try parseGraph(&sub))
            default: try r.skip(wire)
            }
        }
        let value: ONNXAttribute.Value
        switch type {
        case 1: value = .float(f)
        case 2: value = .int(i)
        case 3: value = .string(s)
        case 4:
            guard let t else { throw FormatError.malformed(file: r.file.name, detail: "attribute '\(name)' of type TENSOR has no tensor") }
            value = .tensor(t)
        case 5:
            guard let g else { throw FormatError.malformed(file: r.file.name, detail: "attribute '\(name)' of type GRAPH has no graph") }
            value = .graph(g)
        case 6: value = .floats(floats)
        case 7: value = .ints(ints)
        case 8: value = .strings(strings)
        case 9: value = .tensors(tensors)
        case 10: value = .graphs(graphs)
        default: value = .other(type: type)
        }
        return ONNXAttribute(name: name, value: value)
    }

    static func parseTensor(_ r: inout ProtoReader) throws -> ONNXTensor {
        var dims: [Int64] = []
        var dataType: Int32 = 0
        var name = ""
        var raw: Range<Int>?
        var floats: [Float] = [], int32s: [Int64] = [], int64s: [Int64] = [], doubles: [Double] = [], uint64s: [Int64] = []
        var strings: [[UInt8]] = []
        var external: [String: String] = [:]
        var location: Int64 = 0
        while let (field, wire) = try r.nextField() {
            switch field {
            case 1: try r.appendVarints(wire, to: &dims)
            case 2: try r.expect(wire, .varint, field: "TensorProto.data_type"); dataType = try r.int32()
            case 4: try r.appendFloats(wire, to: &floats)
            case 5: try r.appendVarints(wire, to: &int32s)
            case 6: try r.expect(wire, .lengthDelimited, field: "TensorProto.string_data"); strings.append(try r.data())
            case 7: try r.appendVarints(wire, to: &int64s)
            case 8: try r.expect(wire, .lengthDelimited, field: "TensorProto.name"); name = try r.string()
            case 9: try r.expect(wire, .lengthDelimited, field: "TensorProto.raw_data"); raw = try r.lengthDelimited()
            case 10: try r.appendDoubles(wire, to: &doubles)
            case 11: try r.appendVarints(wire, to: &uint64s)
            case 13:
                try r.expect(wire, .lengthDelimited, field: "TensorProto.external_data")
                let (k, v) = try readStringStringEntry(&r)
                external[k] = v
            case 14: try r.expect(wire, .varint, field: "TensorProto.data_location"); location = try r.int64()
            default: try r.skip(wire)
            }
        }
        var intDims: [Int] = []
        for d in dims {
            guard d >= 0, d <= Int64(Int32.max) * 1024 else {
                throw FormatError.badTensor(file: r.file.name, name: name, detail: "dimension \(d) is negative or too large")
            }
            intDims.append(Int(d))
        }
        let payload: ONNXTensor.Payload
        if location == 1 { payload = .external(external) }
        else if let raw { payload = .raw(raw) }
        else if !floats.isEmpty { payload = .floats(floats) }
        else if !int32s.isEmpty { payload = .int32s(int32s) }
        else if !int64s.isEmpty { payload = .int64s(int64s) }
        else if !doubles.isEmpty { payload = .doubles(doubles) }
        else if !uint64s.isEmpty { payload = .uint64s(uint64s) }
        else if !strings.isEmpty { payload = .strings(strings) }
        else { payload = .empty }
        return ONNXTensor(name: name, dims: intDims, dataType: dataType, payload: payload)
    }

    static func parseValueInfo(_ r: inout ProtoReader) throws -> ONNXValueInfo {
        var v = ONNXValueInfo(name: "", elementType: 0, shape: nil)
        while let (field, wire) = try r.nextField() {
            switch field {
            case 1: try r.expect(wire, .lengthDelimited, field: "ValueInfoProto.name"); v.name = try r.string()
            case 2:
                try r.expect(wire, .lengthDelimited, field: "ValueInfoProto.type")
                var type = try r.message()
                while let (f, w) = try type.nextField() {
                    guard f == 1 else { try type.skip(w); continue }  // only tensor_type
                    try type.expect(w, .lengthDelimited, field: "TypeProto.tensor_type")
                    var tt = try type.message()
                    while let (f2, w2) = try tt.nextField() {
                        switch f2 {
                        case 1: try tt.expect(w2, .varint, field: "TypeProto.Tensor.elem_type"); v.elementType = try tt.int32()
                        case 2:
                            try tt.expect(w2, .lengthDelimited, field: "TypeProto.Tensor.shape")
                            var shape = try tt.message()
                            var dims: [ONNXValueInfo.Dim] = []
                            while let (f3, w3) = try shape.nextField() {
                                guard f3 == 1 else { try shape.skip(w3); continue }
                                try shape.expect(w3, .lengthDelimited, field: "TensorShapeProto.dim")
                                var dim = try shape.message()
                                var d = ONNXValueInfo.Dim.unknown
                                while let (f4, w4) = try dim.nextField() {
                                    switch f4 {
                                    case 1: try dim.expect(w4, .varint, field: "Dimension.dim_value"); d = .value(try dim.int64())
                                    case 2: try dim.expect(w4, .lengthDelimited, field: "Dimension.dim_param"); d = .param(try dim.string())
                                    default: try dim.skip(w4)
                                    }
                                }
                                dims.append(d)
                            }
                            v.shape = dims
                        default: try tt.skip(w2)
                        }
                    }
                }
            default: try r.skip(wire)
            }
        }
        return v
    }
}

/// One `StringStringEntryProto` (metadata_props, external_data): its key and value.
private func readStringStringEntry(_ r: inout ProtoReader) throws -> (key: String, value: String) {
    var sub = try r.message()
    var k = "", v = ""
    while let (f, w) = try sub.nextField() {
        switch f {
        case 1: try sub.expect(w, .lengthDelimited, field: "StringStringEntryProto.key"); k = try sub.string()
        case 2: try sub.expect(w, .lengthDelimited, field: "StringStringEntryProto.value"); v = try sub.string()
        default: try sub.skip(w)
        }
    }
    return (k, v)
}
