import Foundation
import SwiftCapTensor

/// What `CheckpointQuantizer` stores matrices as.
public enum QuantizeTarget: String, Sendable, CaseIterable {
    case f32, f16, int8, q4
}

/// Converts any checkpoint into a SwiftCap quantized safetensors file (`QuantizedCheckpoint`'s convention).
public enum CheckpointQuantizer {
    public struct Options: Sendable {
        public var target: QuantizeTarget
        /// Fraction of each matrix's smallest-magnitude entries set to 0 (nil: no pruning).
        public var pruneFraction: Double?
        /// Rank-2 tensors with at least this many elements count as weight matrices.
        public var minMatrixElements: Int
        public init(target: QuantizeTarget, pruneFraction: Double? = nil, minMatrixElements: Int = 4096) {
            self.target = target
            self.pruneFraction = pruneFraction
            self.minMatrixElements = minMatrixElements
        }
    }

    /// One tensor as written.
    public struct Row: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var sourceDType: String
        /// "F32", "F16", "int8", "q4".
        public var storedAs: String
        public var pruned: Bool
        public var bytes: Int
    }

    public struct Report: Sendable {
        public var rows: [Row] = []
        public var outputBytes = 0
        public var notes: [String] = []
    }

    private enum Stored { case f32, f16, int8, q4 }

    private struct Plan {
        var name: String
        var shape: [Int]
        var sourceDType: String
        var stored: Stored
        var prune: Bool
    }

    /// Reads every tensor of `source`, converts it and writes `url` (a temporary file renamed into place).
    public static func convert(_ source: any TensorSource, to url: URL, options: Options, device: Device,
                               extraMetadata: [String: String] = [:]) throws -> Report {
        if let p = options.pruneFraction, !(p >= 0 && p < 1) {
            throw FormatError.cannotWrite(file: url.path, reason: "prune fraction must be in [0, 1), got \(p)")
        }
        var report = Report()
        var plans: [Plan] = []
        for name in source.tensorNames {
            guard let info = source.tensorInfo(name) else { throw WeightError.missing(name: name, source: source.sourceDescription) }
            if name.hasSuffix(QuantizedCheckpoint.scaleSuffix) {
                throw FormatError.cannotWrite(file: url.path, reason: "tensor name '\(name)' uses the reserved suffix \(QuantizedCheckpoint.scaleSuffix)")
            }
            let count = info.shape.reduce(1, *)
            let isMatrix = info.shape.count == 2 && count >= options.minMatrixElements
            let halfSource = ["F16", "BF16", "float16", "bfloat16"].contains(info.dtype)
            var stored: Stored
            switch options.target {
            case .f32: stored = .f32
            case .f16: stored = .f16
            case .int8: stored = isMatrix ? .int8 : (halfSource ? .f16 : .f32)
            case .q4:
                if isMatrix && QuantScheme.q4.supports(rows: info.shape[0], columns: info.shape[1]) {
                    stored = .q4
                } else if isMatrix {
                    stored = .int8
                    report.notes.append("\(name) \(info.shape): columns not a multiple of \(QuantScheme.q4GroupSize), stored as int8")
                } else {
                    stored = halfSource ? .f16 : .f32
                }
            }
            plans.append(Plan(name: name, shape: info.shape, sourceDType: info.dtype, stored: stored,
                              prune: isMatrix && (options.pruneFraction ?? 0) > 0))
        }
        // Data order keeps every element aligned: F32 parts first, then F16, then the byte-sized
        // quantized data. int8 adds an F32 scale part, q4 an F16 one.
        struct Part { var name: String; var dtype: String; var shape: [Int]; var bytes: Int; var plan: Int; var kind: Int }
        var parts: [Part] = []  // kind: 0 tensor, 1 scale, 2 quantized data
        for (i, p) in plans.enumerated() {
            let n = p.shape.reduce(1, *)
            switch p.stored {
            case .f32: parts.append(Part(name: p.name, dtype: "F32", shape: p.shape, bytes: n * 4, plan: i, kind: 0))
            case .f16: parts.append(Part(name: p.name, dtype: "F16", shape: p.shape, bytes: n * 2, plan: i, kind: 0))
            case .int8:
                parts.append(Part(name: p.name + QuantizedCheckpoint.scaleSuffix, dtype: "F32", shape: [p.shape[0]],
                                  bytes: p.shape[0] * 4, plan: i, kind: 1))
                parts.append(Part(name: p.name, dtype: "I8", shape: p.shape, bytes: n, plan: i, kind: 2))
            case .q4:
                let groups = p.shape[1] / QuantScheme.q4GroupSize
                parts.append(Part(name: p.name + QuantizedCheckpoint.scaleSuffix, dtype: "F16", shape: [p.shape[0], groups],
                                  bytes: p.shape[0] * groups * 2, plan: i, kind: 1))
                parts.append(Part(name: p.name, dtype: "U8", shape: [p.shape[0], p.shape[1] / 2], bytes: n / 2, plan: i, kind: 2))
            }
        }
        func order(_ part: Part) -> Int {
            if part.kind == 2 { return 3 }
            return part.dtype == "F32" ? 0 : 1
        }
        parts = parts.enumerated().sorted { (order($0.element), $0.offset) < (order($1.element), $1.offset) }.map(\.element)

        var metadata = extraMetadata
        metadata[QuantizedCheckpoint.metadataKey] = options.target.rawValue
        if options.target == .q4 { metadata[QuantizedCheckpoint.groupSizeKey] = String(QuantScheme.q4GroupSize) }
        if let p = options.pruneFraction, p > 0 { metadata[QuantizedCheckpoint.prunedKey] = String(p) }
        var header = "{"
        let items = metadata.keys.sorted().map { "\(SafetensorsWriter.jsonString($0)):\(SafetensorsWriter.jsonString(metadata[$0] ?? ""))" }
        header += "\"__metadata__\":{" + items.joined(separator: ",") + "}"
        var offset = 0
        for part in parts {
            let shape = part.shape.map(String.init).joined(separator: ",")
            header += ",\(SafetensorsWriter.jsonString(part.name)):{\"dtype\":\"\(part.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + part.bytes)]}"
            offset += part.bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: tmp) else {
            throw FormatError.cannotWrite(file: url.path, reason: "cannot create \(tmp.path)")
        }
        var closed = false
        defer {
            if !closed { try? handle.close(); try? FileManager.default.removeItem(at: tmp) }
        }
        func emit(_ bytes: UnsafeRawBufferPointer) throws {
            do { try handle.write(contentsOf: Data(bytes)) } catch {
                throw FormatError.cannotWrite(file: url.path, reason: error.localizedDescription)
            }
        }
        var n64 = UInt64(headerBytes.count).littleEndian
        try withUnsafeBytes(of: &n64) { try emit($0) }
        try headerBytes.withUnsafeBytes { try emit($0) }

        // Each plan's tensor is loaded (and quantized) once; the scale part precedes the data part,
        // so a quantized matrix is kept until its data is written.
        var pendingMatrices: [Int: QuantizedMatrix] = [:]
        var rowBytes = [Int](repeating: 0, count: plans.count)
        func loadPrepared(_ i: Int) throws -> Tensor {
            let p = plans[i]
            var t = try source.loadTensor(p.name)
            guard t.shape == p.shape else {
                throw WeightError.shapeMismatch(name: p.name, expected: p.shape, actual: t.shape, source: source.sourceDescription)
            }
            if p.prune, let f = options.pruneFraction { t = try pruneMagnitude(t, fraction: f) }
            return t
        }
        for part in parts {
            let p = plans[part.plan]
            rowBytes[part.plan] += part.bytes
            switch (p.stored, part.kind) {
            case (.f32, _):
                let t = try loadPrepared(part.plan).contiguous()
                try t.withUnsafeBufferPointer { try emit(UnsafeRawBufferPointer($0)) }
            case (.f16, _):
                let t = try loadPrepared(part.plan).contiguous()
                let bits = float16Bits(t)  // little-endian hosts only (as the reader)
                try bits.withUnsafeBytes { try emit($0) }
            case (.int8, 1), (.q4, 1):
                let scheme: QuantScheme = p.stored == .int8 ? .int8 : .q4
                let m = try QuantizedMatrix(quantizing: loadPrepared(part.plan), scheme: scheme, device: device)
                pendingMatrices[part.plan] = m
                if scheme == .int8 {
                    try m.scales.withUnsafeBytes { try emit($0) }
                } else {
                    try m.scaleBitsF16.map { $0.littleEndian }.withUnsafeBytes { try emit($0) }
                }
            case (.int8, _), (.q4, _):
                guard let m = pendingMatrices.removeValue(forKey: part.plan) else {
                    throw FormatError.cannotWrite(file: url.path, reason: "internal: data of '\(p.name)' before its scale")
                }
                try emit(UnsafeRawBufferPointer(start: m.data.pointer, count: m.data.count))
            }
        }
        do { try handle.close() } catch {
            throw FormatError.cannotWrite(file: url.path, reason: error.localizedDescription)
        }
        closed = true
        do {
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw FormatError.cannotWrite(file: url.path, reason: error.localizedDescription)
        }
        for (i, p) in plans.enumerated() {
            let label: String
            switch p.stored { case .f32: label = "F32"; case .f16: label = "F16"; case .int8: label = "int8"; case .q4: label = "q4" }
            report.rows.append(Row(name: p.name, shape: p.shape, sourceDType: p.sourceDType, storedAs: label,
                                   pruned: p.prune, bytes: rowBytes[i]))
        }
        report.outputBytes = 8 + headerBytes.count + offset
        return report
    }
}
