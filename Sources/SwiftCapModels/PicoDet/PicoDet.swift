import Foundation
import SwiftCapFormats
import SwiftCapImage
import SwiftCapTensor

/// An axis-aligned box in pixel coordinates (x to the right, y down), corners (x0, y0)–(x1, y1).
public struct Box: Sendable, Equatable, Codable {
    public var x0: Float, y0: Float, x1: Float, y1: Float
    public init(x0: Float, y0: Float, x1: Float, y1: Float) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }
    public var width: Float { Swift.max(0, x1 - x0) }
    public var height: Float { Swift.max(0, y1 - y0) }
    public var area: Float { width * height }
    public var centerX: Float { (x0 + x1) / 2 }
    public var centerY: Float { (y0 + y1) / 2 }

    /// Intersection over union (0 when both are empty).
    public func iou(_ o: Box) -> Float {
        let iw = Swift.min(x1, o.x1) - Swift.max(x0, o.x0), ih = Swift.min(y1, o.y1) - Swift.max(y0, o.y0)
        if iw <= 0 || ih <= 0 { return 0 }
        let inter = iw * ih
        let union = area + o.area - inter
        return union > 0 ? inter / union : 0
    }
}

/// One detected object: its COCO class, confidence and box in the original image's pixels.
public struct Detection: Sendable, Equatable, Codable {
    public var label: String
    /// Index into `COCOLabels.names` (0 = person).
    public var classIndex: Int
    public var score: Float
    public var box: Box
    public init(label: String, classIndex: Int, score: Float, box: Box) {
        self.label = label; self.classIndex = classIndex; self.score = score; self.box = box
    }
}

/// The 80 COCO-2017 detection classes in the standard order detectors are trained with.
public enum COCOLabels {
    public static let names: [String] = [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
        "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
        "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
        "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
        "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
        "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
        "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
        "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
        "hair drier", "toothbrush",
    ]
}

/// Settings of PP-PicoDet's input and post-processing.
public struct PicoDetConfig: Sendable, Equatable {
    /// Network input side (the ONNX export is fixed at 416×416; preprocessing is
    /// SwiftCapImage's `PreprocessRecipe.picoDet`: RGB, mean [123.675, 116.28, 103.53], std [58.395, 57.12, 57.375]).
    public var inputSize = 416
    public var strides = [8, 16, 32, 64]
    /// Bins per box side minus one (the distribution has `regMax + 1` bins).
    public var regMax = 7
    /// Cell centre offset in cells: the centre of cell (row, col) is `((col + offset)·stride, (row + offset)·stride)`.
    /// 0.5, as PaddleDetection's own deployment decoder for PicoDet (deploy/third_engine/demo_ncnn,
    /// `ct_x = (x + 0.5) * stride`). PicoHead's Python `get_bboxes` defaults to 0, but with 0 boxes
    /// on the coco-dev photos sit half a cell up-left of the objects (49 px at stride 64 on a 640 px photo).
    public var cellOffset: Float = 0.5
    /// Candidates below this class score are dropped before NMS.
    public var scoreThreshold: Float = 0.4
    /// Same-class boxes overlapping a kept box by more than this IoU are suppressed.
    public var nmsIoU: Float = 0.6
    /// At most this many candidates per stride (highest max-class score first) enter NMS, as PicoHead's nms_pre.
    public var preNMSTopK = 1000
    /// At most this many detections are returned.
    public var maxDetections = 100
    public init() {}
}

/// PP-PicoDet-S (416×416, 80 COCO classes) from its ONNX export, run by `GraphExecutor`.
///
/// Input: [1, 3, 416, 416] RGB normalised with `config.mean`/`config.std`, plain resize (no letterbox).
/// Outputs: per stride s in 8, 16, 32, 64 with an n×n grid (n = ceil(416 / s)): class scores
/// [1, n², 80] (sigmoid applied) and box distributions [1, n², 32] (4 sides × 8 bins).
public struct PicoDet: Sendable {
    public static let sharedRelativePath = "models/picodet_s_416_coco.onnx"
    public var config: PicoDetConfig
    public let executor: GraphExecutor
    public let source: String

    /// Loads the ONNX file. Throws `VisionModelError.missingFile` (saying where to put it) when absent.
    public init(contentsOf url: URL, config: PicoDetConfig = PicoDetConfig()) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw VisionModelError.missingFile(path: url.path, hint: PicoDet.missingHint)
        }
        let model = try ONNXModel(url: url)
        try self.init(spec: GraphSpec(onnx: model), config: config)
    }

    public init(spec: GraphSpec, config: PicoDetConfig = PicoDetConfig()) throws {
        self.config = config
        self.source = spec.source
        self.executor = try GraphExecutor(spec)
        guard spec.outputs.count == 2 * config.strides.count else {
            throw VisionModelError.badGraph(source: spec.source, detail: "expected \(2 * config.strides.count) outputs (scores and boxes per stride), found \(spec.outputs.count)")
        }
    }

    public static let missingHint = "The detector is PP-PicoDet-S 416 (ONNX export published in the GitHub repository hpc203/picodet-onnxruntime as coco/picodet_s_416_coco.onnx); put it at ../shared/models/picodet_s_416_coco.onnx beside the repository or set $SWIFTCAP_SHARED."

    /// Network input from an RGB image with the project's PicoDet recipe (SwiftCapImage
    /// `PreprocessRecipe.picoDet`: Pillow-style bilinear resize to 416×416, then (x - mean) / std).
    /// -> [1, 3, 416, 416]
    public func preprocess(_ image: RGBImage, device: Device) throws -> Tensor {
        try device.preprocess(image, recipe: .picoDet)
    }

    /// Raw network outputs for a preprocessed input [1, 3, 416, 416]: scores[i] [1, n², 80], boxes[i] [1, n², 32].
    public func rawOutputs(_ input: Tensor, device: Device, profile: ((String, Double) -> Void)? = nil) throws -> (scores: [Tensor], boxes: [Tensor]) {
        guard input.shape == [1, 3, config.inputSize, config.inputSize] else {
            throw VisionModelError.badInput(detail: "PicoDet input must be [1, 3, \(config.inputSize), \(config.inputSize)], got \(input.shape)")
        }
        let outs = try executor.run(input, device: device, profile: profile)
        let k = config.strides.count
        let bins = 4 * (config.regMax + 1)
        for (i, s) in config.strides.enumerated() {
            let n = (config.inputSize + s - 1) / s
            guard outs[i].shape == [1, n * n, COCOLabels.names.count], outs[k + i].shape == [1, n * n, bins] else {
                throw VisionModelError.badOutput(detail: "stride \(s): scores \(outs[i].shape), boxes \(outs[k + i].shape); expected [1, \(n * n), 80] and [1, \(n * n), \(bins)]")
            }
        }
        return (Array(outs[0..<k]), Array(outs[k...]))
    }

    /// Decodes raw outputs into detections in the original image's pixels (`imageWidth`×`imageHeight`).
    public func decode(scores: [Tensor], boxes: [Tensor], imageWidth: Int, imageHeight: Int) -> [Detection] {
        let classes = COCOLabels.names.count
        let bins = config.regMax + 1
        let size = Float(config.inputSize)
        var all: [(box: Box, cls: Int, score: Float)] = []
        for (level, stride) in config.strides.enumerated() {
            let n = (config.inputSize + stride - 1) / stride
            let sc = scores[level].contiguous(), bx = boxes[level].contiguous()
            let ps = UnsafePointer(sc.contiguousPointer), pb = UnsafePointer(bx.contiguousPointer)
            // nms_pre: keep the preNMSTopK cells with the highest max-class score.
            var cells: [(cell: Int, maxScore: Float)] = []
            cells.reserveCapacity(n * n)
            for cell in 0..<(n * n) {
                let row = ps + cell * classes
                var m: Float = 0
                for c in 0..<classes where row[c] > m { m = row[c] }
                if m > config.scoreThreshold { cells.append((cell, m)) }
            }
            if cells.count > config.preNMSTopK {
                cells.sort { $0.maxScore > $1.maxScore || ($0.maxScore == $1.maxScore && $0.cell < $1.cell) }
                cells.removeLast(cells.count - config.preNMSTopK)
            }
            for (cell, _) in cells {
                let cx = (Float(cell % n) + config.cellOffset) * Float(stride)
                let cy = (Float(cell / n) + config.cellOffset) * Float(stride)
                var d = [Float](repeating: 0, count: 4)
                for side in 0..<4 {
                    let logits = pb + cell * 4 * bins + side * bins
                    var mx = -Float.infinity
                    for b in 0..<bins { mx = Swift.max(mx, logits[b]) }
                    var sum: Float = 0, expect: Float = 0
                    for b in 0..<bins {
                        let e = Foundation.exp(logits[b] - mx)
                        sum += e
                        expect += e * Float(b)
                    }
                    d[side] = expect / sum * Float(stride)
                }
                let box = Box(x0: Swift.min(Swift.max(cx - d[0], 0), size), y0: Swift.min(Swift.max(cy - d[1], 0), size),
                              x1: Swift.min(Swift.max(cx + d[2], 0), size), y1: Swift.min(Swift.max(cy + d[3], 0), size))
                let row = ps + cell * classes
                for c in 0..<classes where row[c] > config.scoreThreshold {
                    all.append((box, c, row[c]))
                }
            }
            withExtendedLifetime((sc, bx)) {}
        }
        // Class-wise greedy NMS.
        var kept: [(box: Box, cls: Int, score: Float)] = []
        let byClass = Dictionary(grouping: all, by: { $0.cls })
        for cls in byClass.keys.sorted() {
            let cands = (byClass[cls] ?? []).sorted { $0.score > $1.score }
            var keep: [(box: Box, cls: Int, score: Float)] = []
            for c in cands where !keep.contains(where: { $0.box.iou(c.box) > config.nmsIoU }) {
                keep.append(c)
            }
            kept.append(contentsOf: keep)
        }
        kept.sort { $0.score > $1.score || ($0.score == $1.score && $0.cls < $1.cls) }
        if kept.count > config.maxDetections { kept.removeLast(kept.count - config.maxDetections) }
        let sx = Float(imageWidth) / size, sy = Float(imageHeight) / size
        return kept.map {
            Detection(label: COCOLabels.names[$0.cls], classIndex: $0.cls, score: $0.score,
                      box: Box(x0: $0.box.x0 * sx, y0: $0.box.y0 * sy, x1: $0.box.x1 * sx, y1: $0.box.y1 * sy))
        }
    }

    /// Detects COCO objects in an image: preprocess, run, decode, NMS. Boxes are in the image's pixels.
    public func detect(_ image: RGBImage, device: Device) throws -> [Detection] {
        let input = try preprocess(image, device: device)
        let (s, b) = try rawOutputs(input, device: device)
        return decode(scores: s, boxes: b, imageWidth: image.width, imageHeight: image.height)
    }
}
