import Foundation
import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
@testable import SwiftCapFormats

final class ONNXTests: XCTestCase {
    private func dimsJSON(_ shape: [ONNXValueInfo.Dim]?) -> [String]? {
        shape?.map { d -> String in
            switch d {
            case .value(let v): return String(v)
            case .param(let p): return p
            case .unknown: return "?"
            }
        }
    }

    private func expectedDims(_ any: Any?) -> [String]? {
        guard let list = any as? [Any] else { return nil }
        return list.map { v in
            if let s = v as? String { return s }
            if let i = v as? Int { return String(i) }
            return "?"
        }
    }

    private func checkValueInfos(_ actual: [ONNXValueInfo], _ expected: Any?, _ what: String) {
        let list = (expected as? [[String: Any]]) ?? []
        XCTAssertEqual(actual.count, list.count, what)
        for (a, e) in zip(actual, list) {
            XCTAssertEqual(a.name, e["name"] as? String, what)
            XCTAssertEqual(Int(a.elementType), e["elem_type"] as? Int, "\(what) \(a.name)")
            XCTAssertEqual(dimsJSON(a.shape), expectedDims(e["shape"]), "\(what) \(a.name)")
        }
    }

    private func checkAttribute(_ value: ONNXAttribute.Value, _ e: [String: Any], model: ONNXModel, _ what: String) throws {
        let v = e["value"]
        switch value {
        case .float(let f): XCTAssertEqual(Double(f), v as? Double ?? .nan, accuracy: 1e-7, what)
        case .int(let i): XCTAssertEqual(Int(i), v as? Int, what)
        case .string(let s): XCTAssertEqual(String(decoding: s, as: UTF8.self), v as? String, what)
        case .floats(let fs): assertClose(fs, floats(v), tolerance: 0, what)
        case .ints(let xs): XCTAssertEqual(xs.map { Int($0) }, ints(v), what)
        case .strings(let ss): XCTAssertEqual(ss.map { String(decoding: $0, as: UTF8.self) }, v as? [String], what)
        case .tensor(let t):
            let d = try XCTUnwrap(v as? [String: Any])
            XCTAssertEqual(t.dims, ints(d["dims"]), what)
            assertClose(try model.tensor(t).scalars, floats(d["values"]), what)
        case .tensors(let ts):
            let ds = try XCTUnwrap(v as? [[String: Any]])
            XCTAssertEqual(ts.count, ds.count, what)
            for (t, d) in zip(ts, ds) { assertClose(try model.tensor(t).scalars, floats(d["values"]), what) }
        case .graph(let g):
            let d = try XCTUnwrap(v as? [String: Any])
            XCTAssertEqual(g.nodes.map(\.opType), d["nodes"] as? [String], what)
        case .graphs, .other:
            XCTFail("\(what): unexpected attribute kind \(value)")
        }
    }

    func testTinyModelMatchesOnnxPackage() throws {
        let model = try ONNXModel(url: fixture("tiny.onnx"))
        let e = try loadExpected("tiny.onnx.expected.json")
        XCTAssertEqual(Int(model.irVersion), e["ir_version"] as? Int)
        XCTAssertEqual(model.producerName, e["producer_name"] as? String)
        XCTAssertEqual(model.opsetVersion, 13)
        XCTAssertEqual(model.opsetImports.map(\.domain), ((e["opset"] as? [[String: Any]]) ?? []).map { $0["domain"] as? String ?? "" })
        XCTAssertEqual(model.graph.name, e["graph_name"] as? String)

        let nodes = try XCTUnwrap(e["nodes"] as? [[String: Any]])
        XCTAssertEqual(model.graph.nodes.count, nodes.count)
        for (n, en) in zip(model.graph.nodes, nodes) {
            XCTAssertEqual(n.name, en["name"] as? String)
            XCTAssertEqual(n.opType, en["op_type"] as? String)
            XCTAssertEqual(n.domain, en["domain"] as? String)
            XCTAssertEqual(n.inputs, en["inputs"] as? [String], n.name)
            XCTAssertEqual(n.outputs, en["outputs"] as? [String], n.name)
            let attrs = try XCTUnwrap(en["attributes"] as? [String: [String: Any]])
            XCTAssertEqual(Set(n.attributes.map(\.name)), Set(attrs.keys), n.name)
            for a in n.attributes {
                let ea = try XCTUnwrap(attrs[a.name])
                XCTAssertEqual(a.typeName, ea["type"] as? String, "\(n.name).\(a.name)")
                try checkAttribute(a.value, ea, model: model, "\(n.name).\(a.name)")
            }
        }
        // every attribute type named in the task appears in the fixture
        let kinds = Set(model.graph.nodes.flatMap { $0.attributes.map(\.typeName) })
        XCTAssertTrue(kinds.isSuperset(of: ["FLOAT", "INT", "STRING", "TENSOR", "FLOATS", "INTS", "STRINGS", "GRAPH", "TENSORS"]), "\(kinds)")

        let inits = try XCTUnwrap(e["initializers"] as? [[String: Any]])
        XCTAssertEqual(model.tensorNames, inits.map { $0["name"] as? String ?? "" })
        for ei in inits {
            let name = try XCTUnwrap(ei["name"] as? String)
            let info = try XCTUnwrap(model.tensorInfo(name))
            XCTAssertEqual(info.shape, ints(ei["dims"]), name)
            XCTAssertEqual(info.dtype, ONNXDataType.name(Int32(ei["data_type"] as? Int ?? -1)), name)
            let t = try model.loadTensor(name)
            XCTAssertEqual(t.shape, info.shape, name)
            assertClose(t.scalars, floats(ei["values"]), name)
        }
        checkValueInfos(model.graph.inputs, e["inputs"], "inputs")
        checkValueInfos(model.graph.outputs, e["outputs"], "outputs")
        // typed attribute accessors and Constant outputs
        let conv = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Conv" })
        XCTAssertEqual(conv.ints("pads"), [1, 1, 1, 1])
        XCTAssertEqual(conv.int("group"), 1)
        XCTAssertNil(conv.float("group"))
        let hs = try XCTUnwrap(model.graph.nodes.first { $0.opType == "HardSigmoid" })
        XCTAssertEqual(hs.float("alpha"), 0.2)
        XCTAssertEqual(model.graph.nodes.first { $0.opType == "Resize" }?.string("mode"), "nearest")
        XCTAssertEqual(try model.tensor(try XCTUnwrap(model.constant("k"))).scalars, [0.5, -0.25])
        XCTAssertNil(model.constant("y"))
        // Weights binding works over initializers
        XCTAssertEqual(try Weights(model).pp("conv").tensor("weight", shape: [4, 3, 3, 3]).shape, [4, 3, 3, 3])
    }

    func testPicoDetIfPresent() throws {
        let url = AssetPaths.fromEnvironment(repositoryRoot: repositoryRoot).sharedFile("models/picodet_s_416_coco.onnx")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("PicoDet ONNX not found at \(url.path) (../shared absent; set SWIFTCAP_SHARED)")
        }
        let model = try ONNXModel(url: url)
        let e = try loadExpected("picodet_s_416_coco.onnx.expected.json")
        let nodes = try XCTUnwrap(e["nodes"] as? [[String: Any]])
        XCTAssertEqual(model.graph.nodes.count, nodes.count)
        XCTAssertEqual(model.graph.nodes.map(\.opType), nodes.map { $0["op_type"] as? String ?? "" })
        XCTAssertEqual(model.graph.nodes.map(\.outputs), nodes.map { $0["outputs"] as? [String] ?? [] })
        for (n, en) in zip(model.graph.nodes, nodes) {
            XCTAssertEqual(n.attributes.map(\.name).sorted(), en["attributes"] as? [String], n.name)
        }
        // the op list in ../shared/README.md
        let readmeOps: Set<String> = ["Conv", "Mul", "Add", "Clip", "Div", "Concat", "Constant", "Reshape", "Transpose",
                                      "Split", "GlobalAveragePool", "Relu", "HardSigmoid", "Sigmoid", "Resize", "MaxPool"]
        XCTAssertEqual(Set(model.graph.nodes.map(\.opType)), readmeOps)
        XCTAssertEqual(model.opsetVersion, 11)

        let inits = try XCTUnwrap(e["initializers"] as? [[String: Any]])
        XCTAssertEqual(model.tensorNames.count, inits.count)
        XCTAssertEqual(model.tensorNames, inits.map { $0["name"] as? String ?? "" })
        var params = 0
        for ei in inits {
            let name = try XCTUnwrap(ei["name"] as? String)
            let t = try model.loadTensor(name)
            XCTAssertEqual(t.shape, ints(ei["dims"]), name)
            let s = t.scalars
            params += s.count
            assertClose(Array(s.prefix(4)), floats(ei["first"]), name)
            let sum = s.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, ei["sum"] as? Double ?? .nan, accuracy: 1e-3 * max(1, abs(sum)), name)
        }
        XCTAssertGreaterThan(params, 900_000)  // README: 0.98M parameters
        checkValueInfos(model.graph.inputs, e["inputs"], "inputs")
        checkValueInfos(model.graph.outputs, e["outputs"], "outputs")
        XCTAssertEqual(model.graph.inputs.first?.name, "image")
    }

    func testProtobufPrimitives() throws {
        // varint 300 = ac 02; field 1 varint; field 2 fixed32 1.5; field 3 len "hi"; field 4 fixed64
        var bytes: [UInt8] = [0x08, 0xac, 0x02, 0x15]
        withUnsafeBytes(of: Float(1.5).bitPattern.littleEndian) { bytes += $0 }
        bytes += [0x1a, 0x02, 0x68, 0x69, 0x21]
        withUnsafeBytes(of: UInt64(0x0102030405060708).littleEndian) { bytes += $0 }
        bytes += [0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]  // field 5: -1 as int64
        let f = MappedFile(bytes: bytes, name: "p.bin")
        var r = ProtoReader(file: f, range: 0..<f.count)
        var got: [String] = []
        while let (n, w) = try r.nextField() {
            switch (n, w) {
            case (1, .varint): got.append("1:\(try r.varint())")
            case (2, .fixed32): got.append("2:\(try r.float())")
            case (3, .lengthDelimited): got.append("3:\(try r.string())")
            case (4, .fixed64): got.append("4:\(try r.fixed64())")
            case (5, .varint): got.append("5:\(try r.int64())")
            default: XCTFail("unexpected field \(n) \(w)")
            }
        }
        XCTAssertEqual(got, ["1:300", "2:1.5", "3:hi", "4:\(0x0102030405060708 as UInt64)", "5:-1"])

        // over-long varint, bad wire type, length past end
        for (bad, needle) in [([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "varint"),
                              ([0x0f], "wire type"), ([0x1a, 0x05, 0x01], "length 5"), ([0x08, 0x80], "varint")] as [([UInt8], String)] {
            let bf = MappedFile(bytes: bad, name: "bad.pb")
            var br = ProtoReader(file: bf, range: 0..<bf.count)
            XCTAssertThrowsError(try { while let (_, w) = try br.nextField() { try br.skip(w) } }()) { err in
                XCTAssertTrue("\(err)".contains(needle) && "\(err)".contains("bad.pb"), "\(err)")
            }
        }
    }

    func testMalformedModels() throws {
        XCTAssertThrowsError(try ONNXModel(file: MappedFile(bytes: [], name: "e.onnx"))) { XCTAssertTrue("\($0)".contains("e.onnx")) }
        // valid protobuf, but no graph
        XCTAssertThrowsError(try ONNXModel(file: MappedFile(bytes: [0x08, 0x07], name: "g.onnx"))) { XCTAssertTrue("\($0)".contains("no graph")) }
        // safetensors bytes are not ONNX
        let st = try Data(contentsOf: fixture("tiny.safetensors"))
        XCTAssertThrowsError(try ONNXModel(file: MappedFile(bytes: st, name: "st.onnx"))) { XCTAssertTrue($0 is FormatError, "\($0)") }
        // deeply nested graphs are refused, not recursed into without bound
        var nested: [UInt8] = []
        for _ in 0..<200 {
            // AttributeProto{g = GraphProto{node = NodeProto{attribute = <nested>}}}
            nested = [0x32] + varintBytes(nested.count) + nested          // AttributeProto.g (6)
            nested = [0x2a] + varintBytes(nested.count) + nested          // NodeProto.attribute (5)
            nested = [0x0a] + varintBytes(nested.count) + nested          // GraphProto.node (1)
        }
        nested = [0x3a] + varintBytes(nested.count) + nested              // ModelProto.graph (7)
        XCTAssertThrowsError(try ONNXModel(file: MappedFile(bytes: nested, name: "deep.onnx"))) { XCTAssertTrue("\($0)".contains("nested deeper"), "\($0)") }
    }

    func testTensorDataMismatchIsTypedError() throws {
        // TensorProto dims [3] FLOAT with 2 float_data values, as an initializer
        var tensor: [UInt8] = [0x08, 0x03, 0x10, 0x01, 0x42, 0x01, 0x77, 0x22, 0x08]
        withUnsafeBytes(of: Float(1).bitPattern.littleEndian) { tensor += $0 }
        withUnsafeBytes(of: Float(2).bitPattern.littleEndian) { tensor += $0 }
        let graph: [UInt8] = [0x2a] + varintBytes(tensor.count) + tensor
        let model: [UInt8] = [0x3a] + varintBytes(graph.count) + graph
        let m = try ONNXModel(file: MappedFile(bytes: model, name: "m.onnx"))
        XCTAssertEqual(m.tensorNames, ["w"])
        XCTAssertThrowsError(try m.loadTensor("w")) { XCTAssertTrue("\($0)".contains("holds 2 values but dims [3] need 3"), "\($0)") }
    }
}

func varintBytes(_ n: Int) -> [UInt8] {
    var v = UInt64(n)
    var out: [UInt8] = []
    repeat {
        var b = UInt8(v & 0x7f)
        v >>= 7
        if v != 0 { b |= 0x80 }
        out.append(b)
    } while v != 0
    return out
}
