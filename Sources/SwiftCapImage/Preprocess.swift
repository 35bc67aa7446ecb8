import Foundation
import SwiftCapTensor
import CImageShim

/// How a model family turns an `RGBImage` into its input tensor [1, 3, H, W].
///
/// Geometry follows torchvision on PIL images (which calls Pillow's resize):
/// `Resize(short)` scales the short side to `short` and the long side to
/// `int(short * long / short_in)` (truncated); `CenterCrop(c)` starts at
/// `int(round((size - c) / 2))` with Python's round-half-to-even.
public struct PreprocessRecipe: Sendable, Equatable {
    public enum Geometry: Sendable, Equatable {
        /// Resize the short side to `shortSide` (aspect kept), then centre-crop `crop` x `crop`.
        case shortSideThenCenterCrop(shortSide: Int, crop: Int)
        /// Resize to exactly `width` x `height` (aspect not kept, no crop).
        case stretch(width: Int, height: Int)
    }

    public enum Normalization: Sendable, Equatable {
        /// (x / 255 - mean[c]) / std[c], as torchvision's ToTensor + Normalize (float32).
        case unit(mean: [Float], std: [Float])
        /// (x - mean[c]) / std[c] on 0...255 values (float32).
        case byte(mean: [Float], std: [Float])

        /// Per-channel std in units of the 0...1 pixel scale (for error bounds in pixel units).
        public var pixelStd: [Float] {
            switch self {
            case .unit(_, let s): return s
            case .byte(_, let s): return s.map { $0 / 255 }
            }
        }
    }

    public var name: String
    public var geometry: Geometry
    public var filter: ResampleFilter
    public var normalization: Normalization

    public init(name: String, geometry: Geometry, filter: ResampleFilter, normalization: Normalization) {
        self.name = name
        self.geometry = geometry
        self.filter = filter
        self.normalization = normalization
    }

    /// Output shape [1, 3, H, W].
    public var outputShape: [Int] {
        switch geometry {
        case .shortSideThenCenterCrop(_, let c): return [1, 3, c, c]
        case .stretch(let w, let h): return [1, 3, h, w]
        }
    }

    static let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    static let clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// OpenAI CLIP (ViT-B/32 at 224): bicubic short side to 224, centre crop 224, CLIP mean/std.
    public static let clip = PreprocessRecipe(
        name: "clip", geometry: .shortSideThenCenterCrop(shortSide: 224, crop: 224), filter: .bicubic,
        normalization: .unit(mean: clipMean, std: clipStd))

    /// BLIP (base, 384): bicubic resize to 384 x 384 (no crop), CLIP mean/std.
    public static let blip = PreprocessRecipe(
        name: "blip", geometry: .stretch(width: 384, height: 384), filter: .bicubic,
        normalization: .unit(mean: clipMean, std: clipStd))

    /// EfficientNet-Lite0: bicubic short side to 256, centre crop 224 (ImageNet's 0.875 crop, as
    /// timm's `tf_efficientnet_lite0` evaluates), then (x - 127) / 128 on 0...255 values.
    public static let efficientNetLite = PreprocessRecipe(
        name: "efficientnet-lite", geometry: .shortSideThenCenterCrop(shortSide: 256, crop: 224), filter: .bicubic,
        normalization: .byte(mean: [127, 127, 127], std: [128, 128, 128]))

    /// PP-PicoDet-S 416 (../shared/models): plain resize to 416 x 416 with Pillow's BILINEAR
    /// (antialiased when shrinking), RGB, mean [123.675, 116.28, 103.53], std [58.395, 57.12, 57.375].
    public static let picoDet = PreprocessRecipe(
        name: "picodet", geometry: .stretch(width: 416, height: 416), filter: .bilinear,
        normalization: .byte(mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]))

    /// The four recipes above.
    public static let all: [PreprocessRecipe] = [.clip, .blip, .efficientNetLite, .picoDet]

    /// Resized size and crop rectangle for an input of `width` x `height`.
    public func layout(width: Int, height: Int) throws -> (width: Int, height: Int, crop: PixelRect) {
        guard width > 0, height > 0 else {
            throw ImageError.invalidArgument(op: "preprocess \(name)", "input size \(width)x\(height)")
        }
        switch geometry {
        case .stretch(let w, let h):
            return (w, h, PixelRect(x: 0, y: 0, width: w, height: h))
        case .shortSideThenCenterCrop(let s, let c):
            guard s >= c, c > 0 else {
                throw ImageError.invalidArgument(op: "preprocess \(name)", "short side \(s) smaller than crop \(c)")
            }
            let (short, long) = width <= height ? (width, height) : (height, width)
            let newLong = Int((Double(s * long) / Double(short)).rounded(.towardZero))
            guard newLong >= c else {
                throw ImageError.invalidArgument(op: "preprocess \(name)", "input \(width)x\(height) too thin for a \(c) crop")
            }
            let (rw, rh) = width <= height ? (s, newLong) : (newLong, s)
            let left = Int((Double(rw - c) / 2).rounded(.toNearestOrEven))
            let top = Int((Double(rh - c) / 2).rounded(.toNearestOrEven))
            return (rw, rh, PixelRect(x: left, y: top, width: c, height: c))
        }
    }
}

extension Device {
    /// `recipe` applied to `image`: tensor [1, 3, H, W] (RGB planes, normalised).
    public func preprocess(_ image: RGBImage, recipe: PreprocessRecipe) throws -> Tensor {
        let (w, h, crop) = try recipe.layout(width: image.width, height: image.height)
        let resized = try self.resized(image, width: w, height: h, filter: recipe.filter, crop: crop)
        return try normalizedTensor(resized, recipe.normalization)
    }

    /// CLIP input [1, 3, 224, 224].
    public func preprocessCLIP(_ image: RGBImage) throws -> Tensor { try preprocess(image, recipe: .clip) }
    /// BLIP input [1, 3, 384, 384].
    public func preprocessBLIP(_ image: RGBImage) throws -> Tensor { try preprocess(image, recipe: .blip) }
    /// EfficientNet-Lite input [1, 3, 224, 224].
    public func preprocessEfficientNetLite(_ image: RGBImage) throws -> Tensor { try preprocess(image, recipe: .efficientNetLite) }
    /// PicoDet input [1, 3, 416, 416].
    public func preprocessPicoDet(_ image: RGBImage) throws -> Tensor { try preprocess(image, recipe: .picoDet) }

    /// image [H, W, 3] uint8 -> tensor [1, 3, H, W] float32 with `normalization`.
    public func normalizedTensor(_ image: RGBImage, _ normalization: PreprocessRecipe.Normalization) throws -> Tensor {
        let (mode, mean, std): (Int32, [Float], [Float])
        switch normalization {
        case .unit(let m, let s): (mode, mean, std) = (0, m, s)
        case .byte(let m, let s): (mode, mean, std) = (1, m, s)
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 }) else {
            throw ImageError.invalidArgument(op: "normalize", "mean \(mean) std \(std): need 3 values each, std non-zero")
        }
        let w = image.width, h = image.height
        let out = Tensor(zeros: [1, 3, h, w])
        let dst = out.contiguousPointer
        image.pixels.withUnsafeBufferPointer { px in
            mean.withUnsafeBufferPointer { m in
                std.withUnsafeBufferPointer { s in
                    guard let src = px.baseAddress, let mp = m.baseAddress, let sp = s.baseAddress else { return }
                    parallelFor(h, costPerItem: w * 3) { y0, y1 in
                        cis_normalize_chw(src, Int32(w), Int32(h), Int32(y0), Int32(y1), dst, mode, mp, sp)
                    }
                }
            }
        }
        return out
    }
}
