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
    /// Pillow's `Image.resize((width, height), filter)` for an RGB image, bit for bit (Pillow 13's
    /// `ImagingResampleInner`): separable convolution with the kernel widened by the downscale factor
    /// (antialiasing), 22-bit fixed-point taps, each pass rounded and clipped to 8 bits. The pass
    /// order is Pillow's: vertical first when the height shrinks by more than twice as many pixels
    /// as the width does (`inH - height > 0 && inH - height > (inW - width) * 2`), else horizontal first.
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
        let horizontal = width != inW ? try ResampleCoefficients(inSize: inW, outSize: width, filter: filter) : nil
        let vertical = height != inH ? try ResampleCoefficients(inSize: inH, outSize: height, filter: filter) : nil
        let verticalFirst = (inH - height) > 0 && (inH - height) > (inW - width) * 2

        return try image.pixels.withUnsafeBufferPointer { srcBuf -> RGBImage in
            guard let src = srcBuf.baseAddress else {
                throw ImageError.invalidArgument(op: "resize", "empty image")
            }
            let pixels: [UInt8]
            switch (horizontal, vertical) {
            case (nil, nil):
                pixels = copyRect(src, stride: inW * 3, x: r.x, y: r.y, width: r.width, height: r.height)
            case (let h?, nil):
                pixels = horizontalPass(src, stride: inW * 3, rowOffset: r.y, colShift: 0, rows: r.height,
                                        columns: r.x..<(r.x + r.width), h)
            case (nil, let v?):
                pixels = verticalPass(src + r.x * 3, stride: inW * 3, rowShift: 0, rows: r.y..<(r.y + r.height),
                                      width: r.width, v)
            case (let h?, let v?):
                if verticalFirst {
                    // source columns the crop's output columns read
                    let last = r.x + r.width - 1
                    let c0 = Int(h.bounds[r.x * 2]), c1 = Int(h.bounds[last * 2]) + Int(h.bounds[last * 2 + 1])
                    let mid = verticalPass(src + c0 * 3, stride: inW * 3, rowShift: 0, rows: r.y..<(r.y + r.height),
                                           width: c1 - c0, v)
                    pixels = mid.withUnsafeBufferPointer {
                        horizontalPass($0.baseAddress!, stride: (c1 - c0) * 3, rowOffset: 0, colShift: c0,
                                       rows: r.height, columns: r.x..<(r.x + r.width), h)
                    }
                } else {
                    // source rows the crop's output rows read
                    let last = r.y + r.height - 1
                    let r0 = Int(v.bounds[r.y * 2]), r1 = Int(v.bounds[last * 2]) + Int(v.bounds[last * 2 + 1])
                    let mid = horizontalPass(src, stride: inW * 3, rowOffset: r0, colShift: 0, rows: r1 - r0,
                                             columns: r.x..<(r.x + r.width), h)
                    pixels = mid.withUnsafeBufferPointer {
                        verticalPass($0.baseAddress!, stride: r.width * 3, rowShift: r0, rows: r.y..<(r.y + r.height),
                                     width: r.width, v)
                    }
                }
            }
            return RGBImage(unchecked: r.width, height: r.height, pixels: pixels, alpha: nil)
        }
    }

    /// Rows [rowOffset, rowOffset + rows) of `src`, output columns `columns` -> [rows, columns.count, 3].
    func horizontalPass(_ src: UnsafePointer<UInt8>, stride: Int, rowOffset: Int, colShift: Int, rows: Int,
                        columns: Range<Int>, _ h: ResampleCoefficients) -> [UInt8] {
        let outStride = columns.count * 3
        var out = [UInt8](repeating: 0, count: rows * outStride)
        out.withUnsafeMutableBufferPointer { dst in
            h.bounds.withUnsafeBufferPointer { b in
                h.weights.withUnsafeBufferPointer { k in
                    guard let d = dst.baseAddress, let bp = b.baseAddress, let kp = k.baseAddress else { return }
                    parallelFor(rows, costPerItem: columns.count * h.ksize * 3) { y0, y1 in
                        cis_resample_h(src, Int32(stride), Int32(rowOffset), Int32(colShift), d + y0 * outStride,
                                       Int32(outStride), Int32(y0), Int32(y1), Int32(columns.lowerBound),
                                       Int32(columns.upperBound), bp, kp, Int32(h.ksize))
                    }
                }
            }
        }
        return out
    }

    /// Output rows `rows` (source row index = bounds - rowShift), `width` pixels from `src` -> [rows.count, width, 3].
    func verticalPass(_ src: UnsafePointer<UInt8>, stride: Int, rowShift: Int, rows: Range<Int>, width: Int,
                      _ v: ResampleCoefficients) -> [UInt8] {
        let outStride = width * 3
        var out = [UInt8](repeating: 0, count: rows.count * outStride)
        out.withUnsafeMutableBufferPointer { dst in
            v.bounds.withUnsafeBufferPointer { b in
                v.weights.withUnsafeBufferPointer { k in
                    guard let d = dst.baseAddress, let bp = b.baseAddress, let kp = k.baseAddress else { return }
                    parallelFor(rows.count, costPerItem: width * v.ksize * 3) { y0, y1 in
                        cis_resample_v(src, Int32(stride), Int32(rowShift), d + y0 * outStride, Int32(outStride),
                                       Int32(rows.lowerBound + y0), Int32(rows.lowerBound + y1), Int32(width),
                                       bp, kp, Int32(v.ksize))
                    }
                }
            }
        }
        return out
    }

    func copyRect(_ src: UnsafePointer<UInt8>, stride: Int, x: Int, y: Int, width: Int, height: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            guard let d = dst.baseAddress else { return }
            for row in 0..<height {
                (d + row * width * 3).update(from: src + (y + row) * stride + x * 3, count: width * 3)
            }
        }
        return out
    }
}
