import Foundation
import SwiftCapTensor

/// The checkpoint formats SwiftCap reads.
public enum CheckpointFormat: String, Sendable, CaseIterable {
    case safetensors
    case gguf = "GGUF"
    case pytorchZip = "PyTorch (zip)"
    case pytorchLegacy = "PyTorch (legacy pickle)"
    case onnx = "ONNX"
}

/// What `swiftcap inspect` prints: the format, metadata lines and one row per tensor.
public struct CheckpointSummary: Sendable {
    public struct Row: Sendable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
    }

    public var file: String
    public var format: CheckpointFormat
    public var bytes: Int
    /// (key, value) lines in the order the format stores them.
    public var metadata: [(key: String, value: String)]
    public var tensors: [Row]

    /// Total elements over all tensors.
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

/// Opening any supported checkpoint by content (with the file extension as a tie-breaker).
public enum Checkpoint {
    /// The format of `file` judged by its first bytes; nil when nothing matches.
    public static func detect(_ file: MappedFile) -> CheckpointFormat? {
        let head = file.bytes.prefix(16)
        if head.count >= 4, head.starts(with: Array("GGUF".utf8)) { return .gguf }
        if ZipArchive.looksLikeZip(file) { return .pytorchZip }
        // before the pickle check: a safetensors header length may start with byte 0x80
        if file.count >= 10, let n = try? file.readLE(UInt64.self, at: 0, what: "header length"),
           n >= 2, n <= UInt64(file.count - 8), file.bytes[8] == UInt8(ascii: "{") {
            return .safetensors
        }
        if head.first == 0x80 { return .pytorchLegacy }
        let ext = (file.name as NSString).pathExtension.lowercased()
        if ext == "onnx" { return .onnx }
        if ext == "safetensors" { return .safetensors }
        // ONNX files start with ModelProto.ir_version (field 1, varint) in practice
        if head.first == 0x08 { return .onnx }
        return nil
    }

    /// Opens `url` with the matching reader.
    public static func open(_ url: URL) throws -> any TensorSource {
        let file = try MappedFile(url: url)
        switch try format(of: file) {
        case .safetensors:
            // Files written by `swiftcap quantize` read back through QuantizedCheckpoint: models that bind
            // LinearWeight keep int8/q4 matrices quantized; plain tensor reads get them dequantized.
            let st = try SafetensorsFile(file: file)
            return QuantizedCheckpoint.isQuantized(st) ? try QuantizedCheckpoint(file: st) : st
        case .gguf: return try GGUFFile(file: file)
        case .pytorchZip, .pytorchLegacy: return try TorchCheckpoint(file: file)
        case .onnx: return try ONNXModel(file: file)
        }
    }

    private static func format(of file: MappedFile) throws -> CheckpointFormat {
        guard let f = detect(file) else {
            throw FormatError.unsupported(file: file.name, detail: "not a safetensors, GGUF, PyTorch or ONNX file (\(file.count) bytes)")
        }
        return f
    }

    /// Format, metadata and tensor table of the checkpoint at `url`.
    public static func summary(_ url: URL) throws -> CheckpointSummary {
        let file = try MappedFile(url: url)
        let format = try format(of: file)
        var meta: [(key: String, value: String)] = []
        var rows: [CheckpointSummary.Row] = []
        func addRows(_ s: any TensorSource) {
            for n in s.tensorNames {
                let info = s.tensorInfo(n)
                rows.append(.init(name: n, dtype: info?.dtype ?? "?", shape: info?.shape ?? []))
            }
        }
        switch format {
        case .safetensors:
            let st = try SafetensorsFile(file: file)
            meta.append(("header bytes", String(st.dataStart - 8)))
            for k in st.metadata.keys.sorted() { meta.append((k, st.metadata[k] ?? "")) }
            addRows(st)
        case .gguf:
            let g = try GGUFFile(file: file)
            meta.append(("version", String(g.version)))
            meta.append(("alignment", String(g.alignment)))
            for (k, v) in g.metadata { meta.append((k, "\(v.typeName) \(v)")) }
            addRows(g)
        case .pytorchZip, .pytorchLegacy:
            let ck = try TorchCheckpoint(file: file)
            if case .dict(let d) = ck.root {
                for (k, v) in d.items {
                    if case .dict = v { meta.append((k.asString ?? k.summary(depth: 0), "dict of \(countTensors(v)) tensors")); continue }
                    if case .tensor = v { continue }
                    meta.append((k.asString ?? k.summary(depth: 0), v.summary(depth: 2)))
                }
            } else {
                meta.append(("object", ck.root.summary(depth: 1)))
            }
            addRows(ck)
        case .onnx:
            let m = try ONNXModel(file: file)
            meta.append(("ir_version", String(m.irVersion)))
            if !m.producerName.isEmpty { meta.append(("producer", m.producerVersion.isEmpty ? m.producerName : "\(m.producerName) \(m.producerVersion)")) }
            meta.append(("opsets", m.opsetImports.map { "\($0.domain.isEmpty ? "ai.onnx" : $0.domain) \($0.version)" }.joined(separator: ", ")))
            meta.append(("graph", "\(m.graph.name): \(m.graph.nodes.count) nodes, \(m.graph.initializers.count) initializers"))
            var ops: [String: Int] = [:]
            for n in m.graph.nodes { ops[n.opType, default: 0] += 1 }
            meta.append(("ops", ops.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")))
            let initNames = Set(m.tensorNames)
            for v in m.graph.inputs where !initNames.contains(v.name) {
                meta.append(("input", "\(v.name) \(ONNXDataType.name(v.elementType)) \(v.shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "")"))
            }
            for v in m.graph.outputs {
                meta.append(("output", "\(v.name) \(ONNXDataType.name(v.elementType)) \(v.shape.map { "[" + $0.map(\.description).joined(separator: ", ") + "]" } ?? "")"))
            }
            for (k, v) in m.metadata.sorted(by: { $0.key < $1.key }) { meta.append((k, v)) }
            addRows(m)
        }
        return CheckpointSummary(file: file.name, format: format, bytes: file.count, metadata: meta, tensors: rows)
    }

    private static func countTensors(_ v: PickleValue) -> Int {
        guard case .dict(let d) = v else { return 0 }
        return d.items.reduce(0) { acc, item in
            if case .tensor = item.value { return acc + 1 }
            return acc
        }
    }
}
