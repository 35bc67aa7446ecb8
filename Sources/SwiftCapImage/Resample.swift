import Foundation
import SwiftCapTensor
import CImageShim

/// Pillow's resampling filters (`Image.Resampling`), with Pillow's supports and kernels.
public enum ResampleFilter: String, Sendable, CaseIterable {
    case box, bilinear, hamming, bicubic, lanczos

    /// Half-width of the kernel at scale 1 (widened by the downscale factor when shrinking).
    public var support: Double {
        switch self {
        case .box: return 0.5
        case .bilinear, .hamming: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    /// Kernel value at distance `x` (in source pixels at scale 1).
    public func weight(_ x: Double) -> Double {
        switch self {
        case .box:
            return (x > -0.5 && x <= 0.5) ? 1 : 0
        case .bilinear:
            let t = abs(x)
            return t < 1 ? 1 - t : 0
        case .hamming:
            let t = abs(x)
            if t == 0 { return 1 }
            if t >= 1 { return 0 }
            let p = t * Double.pi
            return sin(p) / p * (0.54 + 0.46 * cos(p))
        case .bicubic:
            // Keys cubic convolution with a = -0.5.
            let a = -0.5
            let t = abs(x)
            if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0
        case .lanczos:
            func sinc(_ v: Double) -> Double {
                if v == 0 { return 1 }
                let p = v * Double.pi
                return sin(p) / p
            }
            return (x >= -3 && x < 3) ? sinc(x) * sinc(x / 3) : 0
        }
    }
}

/// Fixed-point taps of one axis, computed as Pillow's `precompute_coeffs` followed by
/// `normalize_coeffs_8bpc` (22 fractional bits, rounded half away from zero).
///
/// bounds: [outSize, 2] = (first input index, tap count); weights: [outSize, ksize].
public struct ResampleCoefficients: Sendable {
    public static let precisionBits = 22
    public let inSize: Int
    public let outSize: Int
    public let ksize: Int
    public let bounds: [Int32]
    public let weights: [Int32]

    public init(inSize: Int, outSize: Int, filter: ResampleFilter) throws {
        guard inSize > 0, outSize > 0, inSize <= 1 << 24, outSize <= 1 << 24 else {
            throw ImageError.invalidArgument(op: "resample", "sizes \(inSize) -> \(outSize)")
        }
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int32](repeating: 0, count: outSize * 2)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let one = Double(1 << Self.precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1 / filterScale
            // C's (int) cast truncates toward zero; negative values are clamped to 0 right after.
            var xmin = Int((center - support + 0.5).rounded(.towardZero))
            if xmin < 0 { xmin = 0 }
            var xmax = Int((center + support + 0.5).rounded(.towardZero))
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<xmax {
                let v = ww != 0 ? k[x] / ww : k[x]
                weights[xx * ksize + x] = Int32(v < 0 ? (-0.5 + v * one).rounded(.towardZero)
                                                      : (0.5 + v * one).rounded(.towardZero))
            }
            bounds[xx * 2] = Int32(xmin)
            bounds[xx * 2 + 1] = Int32(max(xmax, 0))
        }
        self.inSize = inSize
        self.outSize = outSize
        self.ksize = ksize
        self.bounds = bounds
        self.weights = weights
    }
}

/// A rectangle in pixels: origin (x, y) and size (width, height).
public struct PixelRect: Sendable, Equatable {
    public var x, y, width, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
}

extension Device {
    /// Pillow's `Image.resize((width, height), filter)` for an RGB image, bit for bit: separable
    /// convolution with the kernel widened by the downscale factor (antialiasing), 22-bit fixed-point
    /// taps, horizontal pass first, each pass rounded and clipped to 8 bits.
    ///
    /// `crop`, when given, is a rectangle of the resized image: only those output pixels are
    /// computed (identical to resizing everything and cropping, at a fraction of the work).
    /// Alpha is not resampled (the result has none).
    public func resized(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter,
                        crop: PixelRect? = nil) throws -> RGBImage {
        guard width > 0, height > 0, width <= 1 << 24, height <= 1 << 24 else {
            throw ImageError.invalidArgument(op: "resize", "target size \(width)x\(height)")
        }
        let r = crop ?? PixelRect(x: 0, y: 0, width: width, height: height)
        guard r.width > 0, r.height > 0, r.x >= 0, r.y >= 0, r.x + r.width <= width, r.y + r.height <= height else {
            throw ImageError.invalidArgument(op: "resize", "crop \(r) outside \(width)x\(height)")
        }
        let inW = image.width, inH = image.height
        let needH = width != inW, needV = height != inH
        let horizontal = needH ? try ResampleCoefficients(inSize: inW, outSize: width, filter: filter) : nil
        let vertical = needV ? try ResampleCoefficients(inSize: inH, outSize: height, filter: filter) : nil

        // Source rows the vertical pass reads (all crop rows when there is no vertical pass).
        let firstRow: Int, lastRow: Int
        if let v = vertical {
            firstRow = Int(v.bounds[r.y * 2])
            let last = r.y + r.height - 1
            lastRow = Int(v.bounds[last * 2]) + Int(v.bounds[last * 2 + 1])
        } else {
            firstRow = r.y
            lastRow = r.y + r.height
        }
        let rows = lastRow - firstRow
        let outStride = r.width * 3

        return try image.pixels.withUnsafeBufferPointer { srcBuf -> RGBImage in
            guard let src = srcBuf.baseAddress else {
                throw ImageError.invalidArgument(op: "resize", "empty image")
            }
            // Horizontal pass: rows [firstRow, lastRow), crop columns -> temp [rows, r.width, 3].
            var temp: [UInt8] = []
            if let h = horizontal {
                temp = [UInt8](repeating: 0, count: rows * outStride)
                temp.withUnsafeMutableBufferPointer { dst in
                    h.bounds.withUnsafeBufferPointer { b in
                        h.weights.withUnsafeBufferPointer { k in
                            let d = dst.baseAddress!, bp = b.baseAddress!, kp = k.baseAddress!
                            parallelFor(rows, costPerItem: r.width * h.ksize * 3) { y0, y1 in
                                cis_resample_h(src, Int32(inW * 3), Int32(firstRow), d + y0 * outStride,
                                               Int32(outStride), Int32(y0), Int32(y1), Int32(r.x),
                                               Int32(r.x + r.width), bp, kp, Int32(h.ksize))
                            }
                        }
                    }
                }
            }
            func passVertical(_ mid: UnsafePointer<UInt8>, stride: Int, shift: Int) -> [UInt8] {
                var out = [UInt8](repeating: 0, count: r.height * outStride)
                guard let v = vertical else { return out }
                out.withUnsafeMutableBufferPointer { dst in
                    v.bounds.withUnsafeBufferPointer { b in
                        v.weights.withUnsafeBufferPointer { k in
                            let d = dst.baseAddress!, bp = b.baseAddress!, kp = k.baseAddress!
                            parallelFor(r.height, costPerItem: r.width * v.ksize * 3) { y0, y1 in
                                cis_resample_v(mid, Int32(stride), Int32(shift), d + y0 * outStride,
                                               Int32(outStride), Int32(r.y + y0), Int32(r.y + y1),
                                               Int32(r.width), bp, kp, Int32(v.ksize))
                            }
                        }
                    }
                }
                return out
            }
            let result: [UInt8]
            switch (horizontal != nil, vertical != nil) {
            case (true, true):
                result = temp.withUnsafeBufferPointer { passVertical($0.baseAddress!, stride: outStride, shift: firstRow) }
            case (true, false):
                result = temp
            case (false, true):
                result = passVertical(src + r.x * 3, stride: inW * 3, shift: 0)
            case (false, false):
                var out = [UInt8](repeating: 0, count: r.height * outStride)
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<r.height {
                        (dst.baseAddress! + y * outStride).update(from: src + ((r.y + y) * inW + r.x) * 3, count: outStride)
                    }
                }
                result = out
            }
            return RGBImage(unchecked: r.width, height: r.height, pixels: result, alpha: nil)
        }
    }
}
