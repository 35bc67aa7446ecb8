import Foundation
import SwiftCapTensor
import SwiftCapFormats

/// Errors loading or running the concept head; each names the file or the input.
public enum ConceptHeadError: Error, CustomStringConvertible, Equatable {
    case badFile(String, String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .badFile(let file, let why): return "concept head \(file): \(why)"
        case .invalidInput(let why): return "concept head: \(why)"
        }
    }
}

/// LightCap's visual concept extractor on the backbones we have: frozen photo features (EfficientNet-Lite0
/// pooled activations and a PicoDet summary, `PhotoFeatures`) -> probabilities over the caption words
/// that matter (objects, places, activities, attributes, counts), as an ensemble of small MLPs
/// whose sigmoid outputs are averaged:
///
///     x̂ = (x − mean) / std
///     p = mean over heads e of σ(fc2ₑ(relu(fc1ₑ(x̂))))
///
/// File (safetensors, written by `swiftcap train --config configs/concepts.json`): `input.mean`,
/// `input.std` [D]; `heads.{e}.fc1.weight` [D, H], `heads.{e}.fc1.bias` [H], `heads.{e}.fc2.weight` [H, V],
/// `heads.{e}.fc2.bias` [V] (weights stored [in, out], as GPT-2's Conv1D); metadata `format` =
/// `swiftcap-concept-head`, `vocabulary` (JSON array of the V words, output order).
public struct ConceptHead: Sendable {
    public static let formatName = "swiftcap-concept-head"

    /// One ensemble member (weights [in, out]).
    public struct MLP: Sendable {
        public var fc1Weight: Tensor, fc1Bias: Tensor, fc2Weight: Tensor, fc2Bias: Tensor
        public init(fc1Weight: Tensor, fc1Bias: Tensor, fc2Weight: Tensor, fc2Bias: Tensor) {
            self.fc1Weight = fc1Weight; self.fc1Bias = fc1Bias; self.fc2Weight = fc2Weight; self.fc2Bias = fc2Bias
        }

        /// Logits for normalised inputs x̂ [rows, D] -> [rows, V].
        public func callAsFunction(_ x: Tensor, device: Device) throws -> Tensor {
            let h = device.relu(try device.linear(x, weightInOut: fc1Weight, bias: fc1Bias))
            return try device.linear(h, weightInOut: fc2Weight, bias: fc2Bias)
        }
    }

    /// Output words, in output order.
    public let vocabulary: [String]
    /// Input normalisation [D].
    public let mean: [Float], std: [Float]
    public let heads: [MLP]
    public var inputDimension: Int { mean.count }

    public init(vocabulary: [String], mean: [Float], std: [Float], heads: [MLP]) throws {
        let d = mean.count, v = vocabulary.count
        guard std.count == d, !heads.isEmpty, v > 0 else {
            throw ConceptHeadError.invalidInput("mean \(mean.count) / std \(std.count) values, \(heads.count) heads, \(v) words")
        }
        for (e, h) in heads.enumerated() {
            let hid = h.fc1Weight.shape.last ?? 0
            guard h.fc1Weight.shape == [d, hid], h.fc1Bias.shape == [hid], h.fc2Weight.shape == [hid, v], h.fc2Bias.shape == [v] else {
                throw ConceptHeadError.invalidInput("head \(e): fc1 \(h.fc1Weight.shape), fc2 \(h.fc2Weight.shape) for input \(d) and \(v) words")
            }
        }
        self.vocabulary = vocabulary; self.mean = mean; self.std = std; self.heads = heads
    }

    /// Binds the checkpoint's key paths (see the type's documentation).
    public init(weights: Weights, vocabulary: [String]) throws {
        let mean = try weights.tensor("input.mean"), std = try weights.tensor("input.std")
        var heads: [MLP] = []
        var e = 0
        while weights.contains("heads.\(e).fc1.weight") {
            let h = weights.pp("heads").pp(e)
            heads.append(MLP(fc1Weight: try h.tensor("fc1.weight"), fc1Bias: try h.tensor("fc1.bias"),
                             fc2Weight: try h.tensor("fc2.weight"), fc2Bias: try h.tensor("fc2.bias")))
            e += 1
        }
        try self.init(vocabulary: vocabulary, mean: mean.scalars, std: std.scalars, heads: heads)
    }

    /// Loads a file written by the trainer; anything else is refused by name.
    public init(url: URL) throws {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch { throw ConceptHeadError.badFile(url.path, "\(error)") }
        guard file.metadata["format"] == ConceptHead.formatName else {
            throw ConceptHeadError.badFile(url.path, "not a concept head (metadata format is \(file.metadata["format"] ?? "missing"))")
        }
        guard let json = file.metadata["vocabulary"],
              let vocabulary = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
            throw ConceptHeadError.badFile(url.path, "metadata `vocabulary` is missing or not a JSON array of words")
        }
        // Through the quantized reader, so a head written by `swiftcap quantize` (int8 / q4 / f16 matrices)
        // loads too: its matrices come back dequantized to fp32 (the head's MLPs compute in fp32).
        do { try self.init(weights: Weights(QuantizedCheckpoint(file: file)), vocabulary: vocabulary) } catch let e as ConceptHeadError {
            throw ConceptHeadError.badFile(url.path, e.description)
        } catch { throw ConceptHeadError.badFile(url.path, "\(error)") }
    }

    /// The normalised inputs [rows, D] of raw feature rows (each `inputDimension` long, concatenated).
    public func normalize(_ rows: [Float]) throws -> Tensor {
        let d = inputDimension
        guard rows.count % d == 0, !rows.isEmpty else {
            throw ConceptHeadError.invalidInput("\(rows.count) input values are not rows of \(d)")
        }
        var x = rows
        for i in 0..<x.count { x[i] = (x[i] - mean[i % d]) / std[i % d] }
        return Tensor(x, shape: [rows.count / d, d])
    }

    /// Word probabilities [rows × V] for raw feature rows (the ensemble's mean sigmoid).
    public func probabilities(_ rows: [Float], device: Device) throws -> [Float] {
        let x = try normalize(rows)
        var sum = [Float](repeating: 0, count: x.shape[0] * vocabulary.count)
        for h in heads {
            let z = try h(x, device: device).scalars
            for i in 0..<sum.count { sum[i] += 1 / (1 + exp(-z[i])) }
        }
        let scale = 1 / Float(heads.count)
        return sum.map { $0 * scale }
    }
}
