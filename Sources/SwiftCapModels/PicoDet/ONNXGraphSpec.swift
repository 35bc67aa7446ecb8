import Foundation
import SwiftCapFormats
import SwiftCapTensor

extension GraphSpec {
    /// The inference graph of an ONNX model: nodes in file order (ONNX requires topological order),
    /// initializers as constants (fp32; int64 shape tensors are converted exactly for small values),
    /// the first graph input that is not an initializer, and the graph outputs.
    public init(onnx model: ONNXModel) throws {
        let source = model.sourceDescription
        var constants: [String: Tensor] = [:]
        for t in model.graph.initializers {
            constants[t.name] = try model.tensor(t)
        }
        guard let input = model.graph.inputs.first(where: { constants[$0.name] == nil })?.name else {
            throw VisionModelError.badGraph(source: source, detail: "no graph input besides the initializers")
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(model.graph.nodes.count)
        for n in model.graph.nodes {
            guard n.domain.isEmpty || n.domain == "ai.onnx" else {
                throw VisionModelError.unsupportedOperator(op: n.opType, node: n.name, detail: "domain '\(n.domain)'")
            }
            var attributes: [String: Attribute] = [:]
            for a in n.attributes {
                switch a.value {
                case .int(let v): attributes[a.name] = .int(Int(v))
                case .ints(let v): attributes[a.name] = .ints(v.map { Int($0) })
                case .float(let v): attributes[a.name] = .float(v)
                case .floats(let v): attributes[a.name] = .floats(v)
                case .string(let v): attributes[a.name] = .string(String(decoding: v, as: UTF8.self))
                case .tensor(let t): attributes[a.name] = .tensor(try model.tensor(t))
                default: break  // graphs, string lists: no operator of this executor reads them
                }
            }
            nodes.append(Node(opType: n.opType, name: n.name, inputs: n.inputs, outputs: n.outputs, attributes: attributes))
        }
        self.init(source: source, nodes: nodes, constants: constants, input: input,
                  outputs: model.graph.outputs.map(\.name))
    }
}
