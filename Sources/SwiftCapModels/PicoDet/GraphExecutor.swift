import Foundation
import SwiftCapTensor

/// Errors loading or running a vision network. Each case names the file or node and the problem.
public enum VisionModelError: Error, CustomStringConvertible, Equatable {
    /// A model file is not where it should be.
    case missingFile(path: String, hint: String)
    /// The graph uses an operator (or an operator setting) this executor does not implement.
    case unsupportedOperator(op: String, node: String, detail: String)
    /// The graph is inconsistent: a value used before it is produced, a missing constant, a bad attribute.
    case badGraph(source: String, detail: String)
    /// The network ran but produced something unexpected (wrong output count or shape).
    case badOutput(detail: String)
    /// The input image or tensor is unusable.
    case badInput(detail: String)

    public var description: String {
        switch self {
        case .missingFile(let path, let hint): return "\(path): not found. \(hint)"
        case .unsupportedOperator(let op, let node, let detail): return "operator \(op) (node '\(node)') is not supported: \(detail)"
        case .badGraph(let source, let detail): return "\(source): bad graph: \(detail)"
        case .badOutput(let detail): return "unexpected network output: \(detail)"
        case .badInput(let detail): return "bad input: \(detail)"
        }
    }
}

/// A framework-neutral description of an inference graph: nodes in topological order, constant
/// tensors (initializers and Constant nodes' values), the input name and the output names.
public struct GraphSpec: Sendable {
    public enum Attribute: Sendable {
        case int(Int), ints([Int]), float(Float), floats([Float]), string(String), tensor(Tensor)
    }

    public struct Node: Sendable {
        public var opType: String
        public var name: String
        public var inputs: [String]
        public var outputs: [String]
        public var attributes: [String: Attribute]
        public init(opType: String, name: String, inputs: [String], outputs: [String], attributes: [String: Attribute]) {
            self.opType = opType
            self.name = name
            self.inputs = inputs
            self.outputs = outputs
            self.attributes = attributes
        }
    }

    public var source: String
    public var nodes: [Node]
    public var constants: [String: Tensor]
    public var input: String
    public var outputs: [String]

    public init(source: String, nodes: [Node], constants: [String: Tensor], input: String, outputs: [String]) {
        self.source = source
        self.nodes = nodes
        self.constants = constants
        self.input = input
        self.outputs = outputs
    }
}

/// Runs exactly the operator set of convnet detectors such as PP-PicoDet exported to ONNX (opset 11):
/// Conv, Add, Mul, Div, Clip, Relu, HardSigmoid, Sigmoid, GlobalAveragePool, MaxPool, Resize,
/// Concat, Split, Reshape, Transpose, Constant. Compiling the graph folds the exporter's
/// hard-swish pattern `Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)` and a following Relu / HardSigmoid
/// into the producing convolution's epilogue, so those run while the output is in cache.
/// Values are kept in numbered slots and released after their last use.
public struct GraphExecutor: Sendable {
    enum Operand: Sendable {
        case slot(Int)
        case constant(Tensor)
    }

    enum Unary: Sendable {
        case relu, sigmoid, hardSwish
        case hardSigmoid(Float, Float)
        case clip(Float, Float)
    }

    enum Step: Sendable {
        case conv(x: Int, y: Int, weight: Tensor, bias: Tensor?, stride: [Int], padding: Padding2D,
                  dilation: [Int], groups: Int, activation: ConvActivation)
        case binary(a: Operand, b: Operand, y: Int, op: BinaryOp)
        case unary(x: Int, y: Int, op: Unary)
        case concat(xs: [Int], axis: Int, y: Int)
        case split(x: Int, axis: Int, sizes: [Int], ys: [Int])
        case reshape(x: Int, shape: [Int], y: Int)
        case transpose(x: Int, perm: [Int], y: Int)
        case globalAveragePool(x: Int, y: Int)
        case maxPool(x: Int, y: Int, kernel: [Int], stride: [Int], padding: Padding2D, dilation: [Int], ceilMode: Bool)
        case resize(x: Int, y: Int, scales: (h: Float, w: Float), mode: ResizeMode, coordinates: ResizeCoordinates)
    }

    let steps: [Step]
    /// Slots whose last use is step i (released after it).
    let releases: [[Int]]
    let slotCount: Int
    let inputSlot: Int
    let outputSlots: [Int]
    public let outputNames: [String]
    /// How many graph nodes were folded into convolution epilogues (for reports and tests).
    public let fusedNodes: Int

    /// Compiles `spec`; throws `VisionModelError` naming the first node it cannot run.
    public init(_ spec: GraphSpec) throws {
        var constants = spec.constants
        var slots: [String: Int] = [spec.input: 0]
        var slotCount = 1
        func newSlot(_ name: String) -> Int {
            let s = slotCount
            slots[name] = s
            slotCount += 1
            return s
        }
        func bad(_ detail: String) -> VisionModelError { .badGraph(source: spec.source, detail: detail) }

        // Constant nodes become constants up front.
        var nodes: [GraphSpec.Node] = []
        for node in spec.nodes {
            if node.opType == "Constant" {
                guard case .tensor(let t)? = node.attributes["value"], let out = node.outputs.first else {
                    throw VisionModelError.unsupportedOperator(op: "Constant", node: node.name, detail: "only a 'value' tensor is supported")
                }
                constants[out] = t
            } else {
                nodes.append(node)
            }
        }
        var consumers: [String: [Int]] = [:]
        for (i, node) in nodes.enumerated() {
            for name in node.inputs where !name.isEmpty { consumers[name, default: []].append(i) }
        }
        for name in spec.outputs { consumers[name, default: []].append(-1) }

        func scalarConstant(_ name: String) -> Float? {
            guard let t = constants[name], t.count == 1 else { return nil }
            return t.scalars[0]
        }
        // Matches Add(x, 3) -> Clip(0, 6) -> Mul(x, clip) -> Div(6) starting at node `a` (an Add).
        // Returns (x, indices of the four nodes, output name of the Div).
        func hardSwishPattern(at a: Int) -> (x: String, nodes: [Int], output: String)? {
            let add = nodes[a]
            guard add.opType == "Add", add.inputs.count == 2 else { return nil }
            let (x, c) = scalarConstant(add.inputs[1]) != nil ? (add.inputs[0], add.inputs[1]) : (add.inputs[1], add.inputs[0])
            guard scalarConstant(c) == 3, let cUsers = consumers[add.outputs[0]], cUsers.count == 1, cUsers[0] >= 0 else { return nil }
            let clipIndex = cUsers[0], clip = nodes[clipIndex]
            guard clip.opType == "Clip", clip.inputs.count == 3, scalarConstant(clip.inputs[1]) == 0,
                  scalarConstant(clip.inputs[2]) == 6, let mUsers = consumers[clip.outputs[0]], mUsers.count == 1, mUsers[0] >= 0 else { return nil }
            let mulIndex = mUsers[0], mul = nodes[mulIndex]
            guard mul.opType == "Mul", Set(mul.inputs) == Set([x, clip.outputs[0]]),
                  let dUsers = consumers[mul.outputs[0]], dUsers.count == 1, dUsers[0] >= 0 else { return nil }
            let divIndex = dUsers[0], div = nodes[divIndex]
            guard div.opType == "Div", div.inputs.count == 2, div.inputs[0] == mul.outputs[0], scalarConstant(div.inputs[1]) == 6 else { return nil }
            return (x, [a, clipIndex, mulIndex, divIndex], div.outputs[0])
        }

        var steps: [Step] = []
        var skip = Set<Int>()
        var fused = 0
        // Output name each node's result is written under (a conv absorbing an activation writes
        // the activation's output name).
        func operand(_ name: String, node: GraphSpec.Node) throws -> Operand {
            if let s = slots[name] { return .slot(s) }
            if let t = constants[name] { return .constant(t) }
            throw bad("node '\(node.name)' (\(node.opType)) reads '\(name)' before it is produced")
        }
        func slot(_ name: String, node: GraphSpec.Node) throws -> Int {
            guard let s = slots[name] else {
                throw bad("node '\(node.name)' (\(node.opType)) reads '\(name)', which is not a computed value")
            }
            return s
        }
        func ints(_ node: GraphSpec.Node, _ key: String, default d: [Int]) throws -> [Int] {
            switch node.attributes[key] {
            case nil: return d
            case .ints(let v)?: return v
            case .int(let v)?: return [v]
            default: throw bad("node '\(node.name)': attribute \(key) is not a list of ints")
            }
        }
        func int(_ node: GraphSpec.Node, _ key: String, default d: Int) throws -> Int {
            switch node.attributes[key] {
            case nil: return d
            case .int(let v)?: return v
            default: throw bad("node '\(node.name)': attribute \(key) is not an int")
            }
        }
        func float(_ node: GraphSpec.Node, _ key: String, default d: Float) throws -> Float {
            switch node.attributes[key] {
            case nil: return d
            case .float(let v)?: return v
            default: throw bad("node '\(node.name)': attribute \(key) is not a float")
            }
        }
        func string(_ node: GraphSpec.Node, _ key: String, default d: String) throws -> String {
            switch node.attributes[key] {
            case nil: return d
            case .string(let v)?: return v
            default: throw bad("node '\(node.name)': attribute \(key) is not a string")
            }
        }
        func padding(_ node: GraphSpec.Node, spatial: Int = 2) throws -> Padding2D {
            let autoPad = try string(node, "auto_pad", default: "NOTSET")
            switch autoPad {
            case "NOTSET":
                let p = try ints(node, "pads", default: [0, 0, 0, 0])
                guard p.count == 4, p.allSatisfy({ $0 >= 0 }) else { throw bad("node '\(node.name)': pads \(p)") }
                return .explicit(top: p[0], left: p[1], bottom: p[2], right: p[3])
            case "VALID": return .zero
            case "SAME_UPPER": return .same
            default:
                throw VisionModelError.unsupportedOperator(op: node.opType, node: node.name, detail: "auto_pad \(autoPad)")
            }
        }

        for (i, node) in nodes.enumerated() where !skip.contains(i) {
            let out0 = node.outputs.first ?? ""
            switch node.opType {
            case "Conv":
                guard node.inputs.count >= 2, let weight = constants[node.inputs[1]], weight.rank == 4 else {
                    throw VisionModelError.unsupportedOperator(op: "Conv", node: node.name, detail: "weight must be a constant 4-D tensor")
                }
                var bias: Tensor?
                if node.inputs.count > 2, !node.inputs[2].isEmpty {
                    guard let b = constants[node.inputs[2]] else {
                        throw VisionModelError.unsupportedOperator(op: "Conv", node: node.name, detail: "bias must be a constant")
                    }
                    bias = b
                }
                let kernel = try ints(node, "kernel_shape", default: [weight.shape[2], weight.shape[3]])
                guard kernel == [weight.shape[2], weight.shape[3]] else { throw bad("node '\(node.name)': kernel_shape \(kernel) vs weight \(weight.shape)") }
                let x = try slot(node.inputs[0], node: node)
                // Fold a following activation when this conv's output feeds only it.
                var activation = ConvActivation.none
                var outName = out0
                let users = consumers[out0] ?? []
                if users.count == 2, users.allSatisfy({ $0 >= 0 }),
                   let addIndex = users.first(where: { nodes[$0].opType == "Add" }),
                   let m = hardSwishPattern(at: addIndex), m.x == out0, Set(users).isSubset(of: Set(m.nodes)) {
                    activation = .hardSwish
                    outName = m.output
                    skip.formUnion(m.nodes)
                    fused += 4
                } else if users.count == 1, users[0] >= 0 {
                    let next = nodes[users[0]]
                    if next.opType == "Relu" {
                        activation = .relu; outName = next.outputs[0]; skip.insert(users[0]); fused += 1
                    } else if next.opType == "HardSigmoid" {
                        activation = .hardSigmoid(alpha: try float(next, "alpha", default: 0.2), beta: try float(next, "beta", default: 0.5))
                        outName = next.outputs[0]; skip.insert(users[0]); fused += 1
                    }
                }
                let y = newSlot(outName)
                steps.append(.conv(x: x, y: y, weight: weight, bias: bias,
                                   stride: try ints(node, "strides", default: [1, 1]), padding: try padding(node),
                                   dilation: try ints(node, "dilations", default: [1, 1]),
                                   groups: try int(node, "group", default: 1), activation: activation))
            case "Add":
                if let m = hardSwishPattern(at: i), let x = slots[m.x] {
                    skip.formUnion(m.nodes)
                    steps.append(.unary(x: x, y: newSlot(m.output), op: .hardSwish))
                    continue
                }
                fallthrough
            case "Mul", "Div", "Sub":
                guard node.inputs.count == 2 else { throw bad("node '\(node.name)' needs two inputs") }
                let op: BinaryOp = node.opType == "Add" ? .add : node.opType == "Mul" ? .mul : node.opType == "Div" ? .div : .sub
                let a = try operand(node.inputs[0], node: node), b = try operand(node.inputs[1], node: node)
                if case .constant = a, case .constant = b { throw bad("node '\(node.name)': both inputs constant") }
                steps.append(.binary(a: a, b: b, y: newSlot(out0), op: op))
            case "Clip":
                let lo = node.inputs.count > 1 && !node.inputs[1].isEmpty ? scalarConstant(node.inputs[1]) : -Float.infinity
                let hi = node.inputs.count > 2 && !node.inputs[2].isEmpty ? scalarConstant(node.inputs[2]) : Float.infinity
                guard let lo, let hi else {
                    throw VisionModelError.unsupportedOperator(op: "Clip", node: node.name, detail: "min/max must be scalar constants")
                }
                steps.append(.unary(x: try slot(node.inputs[0], node: node), y: newSlot(out0), op: .clip(lo, hi)))
            case "Relu":
                steps.append(.unary(x: try slot(node.inputs[0], node: node), y: newSlot(out0), op: .relu))
            case "Sigmoid":
                steps.append(.unary(x: try slot(node.inputs[0], node: node), y: newSlot(out0), op: .sigmoid))
            case "HardSigmoid":
                steps.append(.unary(x: try slot(node.inputs[0], node: node), y: newSlot(out0),
                                    op: .hardSigmoid(try float(node, "alpha", default: 0.2), try float(node, "beta", default: 0.5))))
            case "GlobalAveragePool":
                steps.append(.globalAveragePool(x: try slot(node.inputs[0], node: node), y: newSlot(out0)))
            case "MaxPool":
                let kernel = try ints(node, "kernel_shape", default: [])
                guard kernel.count == 2 else {
                    throw VisionModelError.unsupportedOperator(op: "MaxPool", node: node.name, detail: "only 2-D kernels")
                }
                guard node.outputs.count == 1 else {
                    throw VisionModelError.unsupportedOperator(op: "MaxPool", node: node.name, detail: "the Indices output")
                }
                steps.append(.maxPool(x: try slot(node.inputs[0], node: node), y: newSlot(out0), kernel: kernel,
                                      stride: try ints(node, "strides", default: [1, 1]), padding: try padding(node),
                                      dilation: try ints(node, "dilations", default: [1, 1]),
                                      ceilMode: try int(node, "ceil_mode", default: 0) != 0))
            case "Resize":
                // opset 11: X, roi, scales, sizes. Only constant scales over the two spatial axes.
                guard node.inputs.count >= 3, let s = constants[node.inputs[2]], s.count == 4 else {
                    throw VisionModelError.unsupportedOperator(op: "Resize", node: node.name, detail: "needs constant 4-element scales")
                }
                let sv = s.scalars
                guard sv[0] == 1, sv[1] == 1, sv[2] > 0, sv[3] > 0, sv[2] <= 64, sv[3] <= 64 else {
                    throw VisionModelError.unsupportedOperator(op: "Resize", node: node.name, detail: "scales \(sv) (only spatial scaling)")
                }
                let mode = try string(node, "mode", default: "nearest")
                let ctm = try string(node, "coordinate_transformation_mode", default: "half_pixel")
                let coords: ResizeCoordinates
                switch ctm {
                case "half_pixel": coords = .halfPixel
                case "pytorch_half_pixel": coords = .pytorchHalfPixel
                case "align_corners": coords = .alignCorners
                case "asymmetric": coords = .asymmetric
                default: throw VisionModelError.unsupportedOperator(op: "Resize", node: node.name, detail: "coordinate_transformation_mode \(ctm)")
                }
                let resizeMode: ResizeMode
                switch mode {
                case "linear": resizeMode = .linear
                case "nearest":
                    let nm = try string(node, "nearest_mode", default: "round_prefer_floor")
                    switch nm {
                    case "round_prefer_floor": resizeMode = .nearest(.roundPreferFloor)
                    case "round_prefer_ceil": resizeMode = .nearest(.roundPreferCeil)
                    case "floor": resizeMode = .nearest(.floor)
                    case "ceil": resizeMode = .nearest(.ceil)
                    default: throw VisionModelError.unsupportedOperator(op: "Resize", node: node.name, detail: "nearest_mode \(nm)")
                    }
                default: throw VisionModelError.unsupportedOperator(op: "Resize", node: node.name, detail: "mode \(mode)")
                }
                steps.append(.resize(x: try slot(node.inputs[0], node: node), y: newSlot(out0), scales: (sv[2], sv[3]),
                                     mode: resizeMode, coordinates: coords))
            case "Concat":
                let xs = try node.inputs.map { try slot($0, node: node) }
                steps.append(.concat(xs: xs, axis: try int(node, "axis", default: 1), y: newSlot(out0)))
            case "Split":
                let sizes = try ints(node, "split", default: [])
                guard sizes.count == node.outputs.count else {
                    throw VisionModelError.unsupportedOperator(op: "Split", node: node.name, detail: "needs an explicit 'split' attribute")
                }
                let x = try slot(node.inputs[0], node: node)
                steps.append(.split(x: x, axis: try int(node, "axis", default: 0), sizes: sizes, ys: node.outputs.map { newSlot($0) }))
            case "Reshape":
                guard node.inputs.count == 2, let shape = constants[node.inputs[1]] else {
                    throw VisionModelError.unsupportedOperator(op: "Reshape", node: node.name, detail: "shape must be a constant")
                }
                let dims = shape.scalars
                guard shape.rank == 1, dims.allSatisfy({ $0.isFinite && $0 >= -1 && $0 <= Float(1 << 30) && $0 == $0.rounded() }) else {
                    throw bad("node '\(node.name)': Reshape shape \(dims) is not a list of dimensions")
                }
                steps.append(.reshape(x: try slot(node.inputs[0], node: node), shape: dims.map { Int($0) }, y: newSlot(out0)))
            case "Transpose":
                let perm = try ints(node, "perm", default: [])
                steps.append(.transpose(x: try slot(node.inputs[0], node: node), perm: perm, y: newSlot(out0)))
            default:
                throw VisionModelError.unsupportedOperator(op: node.opType, node: node.name, detail: "not in this executor's operator set")
            }
        }
        let outputSlots = try spec.outputs.map { name -> Int in
            guard let s = slots[name] else { throw bad("graph output '\(name)' is never produced") }
            return s
        }
        // Last use of every slot, so memory is handed back as soon as possible.
        var lastUse = [Int](repeating: -1, count: slotCount)
        for (i, step) in steps.enumerated() {
            for s in GraphExecutor.reads(step) { lastUse[s] = i }
        }
        var releases = [[Int]](repeating: [], count: steps.count)
        let keep = Set(outputSlots)
        for (s, i) in lastUse.enumerated() where i >= 0 && !keep.contains(s) { releases[i].append(s) }

        self.steps = steps
        self.releases = releases
        self.slotCount = slotCount
        self.inputSlot = 0
        self.outputSlots = outputSlots
        self.outputNames = spec.outputs
        self.fusedNodes = fused
    }

    static func reads(_ step: Step) -> [Int] {
        func op(_ o: Operand) -> [Int] { if case .slot(let s) = o { return [s] } else { return [] } }
        switch step {
        case .conv(let x, _, _, _, _, _, _, _, _): return [x]
        case .binary(let a, let b, _, _): return op(a) + op(b)
        case .unary(let x, _, _): return [x]
        case .concat(let xs, _, _): return xs
        case .split(let x, _, _, _): return [x]
        case .reshape(let x, _, _): return [x]
        case .transpose(let x, _, _): return [x]
        case .globalAveragePool(let x, _): return [x]
        case .maxPool(let x, _, _, _, _, _, _): return [x]
        case .resize(let x, _, _, _, _): return [x]
        }
    }

    /// Number of compiled steps (after folding).
    public var stepCount: Int { steps.count }

    /// Runs the graph on `input` and returns the outputs in the graph's output order (contiguous).
    /// `profile`, when given, receives (step kind, seconds) per step.
    public func run(_ input: Tensor, device: Device, profile: ((String, Double) -> Void)? = nil) throws -> [Tensor] {
        var values = [Tensor?](repeating: nil, count: slotCount)
        values[inputSlot] = input.contiguous()
        func get(_ s: Int) throws -> Tensor {
            guard let t = values[s] else { throw VisionModelError.badOutput(detail: "value slot \(s) read after release") }
            return t
        }
        func get(_ o: Operand) throws -> Tensor {
            switch o {
            case .slot(let s): return try get(s)
            case .constant(let t): return t
            }
        }
        for (i, step) in steps.enumerated() {
            let start = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            var kind = ""
            switch step {
            case .conv(let x, let y, let w, let b, let stride, let padding, let dilation, let groups, let act):
                kind = groups > 1 && groups == w.shape[0] ? "conv depthwise" : (w.shape[2] * w.shape[3] == 1 ? "conv 1x1" : "conv kxk")
                values[y] = try device.conv2d(try get(x), weight: w, bias: b, stride: stride, padding: padding,
                                              dilation: dilation, groups: groups, activation: act)
            case .binary(let a, let b, let y, let op):
                kind = "elementwise"
                values[y] = try device.binary(try get(a), try get(b), op)
            case .unary(let x, let y, let op):
                kind = "elementwise"
                let t = try get(x)
                switch op {
                case .relu: values[y] = device.relu(t)
                case .sigmoid: values[y] = device.sigmoid(t)
                case .hardSwish: values[y] = device.hardSwish(t)
                case .hardSigmoid(let a, let b): values[y] = device.hardSigmoid(t, alpha: a, beta: b)
                case .clip(let lo, let hi):
                    var c = Tensor(copying: t)
                    c.withUnsafeMutableBufferPointer { p in
                        for k in 0..<p.count { p[k] = Swift.min(Swift.max(p[k], lo), hi) }
                    }
                    values[y] = c
                }
            case .concat(let xs, let axis, let y):
                kind = "concat/split"
                values[y] = try device.concat(try xs.map { try get($0) }, dim: axis)
            case .split(let x, let axis, let sizes, let ys):
                kind = "concat/split"
                let parts = try device.split(try get(x), sizes: sizes, dim: axis)
                for (s, p) in zip(ys, parts) { values[s] = p }
            case .reshape(let x, let shape, let y):
                kind = "reshape/transpose"
                let t = try get(x)
                // ONNX: 0 copies the input dimension, -1 is inferred.
                let dims = shape.enumerated().map { $0.element == 0 && $0.offset < t.rank ? t.shape[$0.offset] : $0.element }
                values[y] = try t.reshaped(dims)
            case .transpose(let x, let perm, let y):
                kind = "reshape/transpose"
                let t = try get(x)
                values[y] = try t.permuted(perm.isEmpty ? Array((0..<t.rank).reversed()) : perm).contiguousRuns()
            case .globalAveragePool(let x, let y):
                kind = "pool"
                values[y] = try device.globalAveragePool(try get(x))
            case .maxPool(let x, let y, let kernel, let stride, let padding, let dilation, let ceilMode):
                kind = "pool"
                values[y] = try device.maxPool2d(try get(x), kernel: kernel, stride: stride, padding: padding,
                                                 dilation: dilation, ceilMode: ceilMode)
            case .resize(let x, let y, let scales, let mode, let coords):
                kind = "resize"
                let t = try get(x)
                guard t.rank == 4 else { throw VisionModelError.badInput(detail: "Resize of \(t.shape)") }
                let oh = Int((Float(t.shape[2]) * scales.h).rounded(.down)), ow = Int((Float(t.shape[3]) * scales.w).rounded(.down))
                values[y] = try device.resize(t, height: oh, width: ow, mode: mode, coordinates: coords, scales: scales)
            }
            for s in releases[i] { values[s] = nil }
            if let profile {
                profile(kind, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        return try outputSlots.map { try get($0).contiguous() }
    }
}
