/// Vectorised float math for the hot loops (eight lanes at a time, plain Swift SIMD so it compiles
/// everywhere). Accuracy: `vexp` uses a Cephes-style range reduction and degree-6
/// polynomial (measured ≤ 3e-7 relative error); `verf` is Abramowitz–Stegun 7.1.26 (1.5e-7 in exact
/// arithmetic, measured ≤ 5e-7 absolute in fp32). Both checked by `OpsTests.testVectorMathAccuracy`.

import Foundation

typealias F8 = SIMD8<Float>

#if DEBUG
/// Debug builds (-Onone) run generic SIMD code hundreds of times slower than scalar code, so the
/// ops take their scalar form there and the 8-lane form in release builds. Both forms are tested
/// against the PyTorch fixtures (`OpsFixtureTests` runs every op both ways).
let vectorKernelsByDefault = false
#else
let vectorKernelsByDefault = true
#endif

/// e^x per lane. Inputs are clamped to [−87.3, 88.7], so −∞ gives ~1e−38 (0 for every use here:
/// it is added to or divided by numbers ≥ 1) and +∞ gives ~1.7e38. Written with plain arithmetic
/// and bit casts only: generic SIMD helpers such as `pointwiseMin` or `rounded` are not inlined by
/// the compiler and turn the loop into calls; `replace(with:where:)` is.
@inline(__always)
func vexp(_ x: F8) -> F8 {
    var xc = x
    xc.replace(with: -87.33654, where: xc .< -87.33654)
    xc.replace(with: 88.72283, where: xc .> 88.72283)
    // n = round(x · log2 e) by the 1.5·2^23 trick; its low bits hold n as an integer.
    let magic = F8(repeating: 12582912)
    let t = xc * 1.44269504088896341 + magic
    let n = t - magic
    // x − n·ln2, in two steps for precision.
    var r = xc - n * 0.693359375
    r = r + n * 2.12194440e-4
    let z = r * r
    var p = F8(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * z + r + 1
    // 2^n through the exponent bits, split in two factors so n = 128 / −126 stay representable.
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let half = ni &>> 1
    let scaleA = unsafeBitCast((half &+ 127) &<< 23, to: F8.self)
    let scaleB = unsafeBitCast(((ni &- half) &+ 127) &<< 23, to: F8.self)
    return p * scaleA * scaleB
}

/// 1 / (1 + e^−x) per lane.
@inline(__always)
func vsigmoid(_ x: F8) -> F8 { 1 / (1 + vexp(-x)) }

/// erf(x) per lane (Abramowitz–Stegun 7.1.26).
@inline(__always)
func verf(_ x: F8) -> F8 {
    let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
    let sign = bits & 0x8000_0000
    let a = unsafeBitCast(bits & 0x7FFF_FFFF, to: F8.self)
    let t = 1 / (1 + 0.3275911 * a)
    var p = F8(repeating: 1.061405429)
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    let y = 1 - p * t * vexp(-(a * a))
    return unsafeBitCast(unsafeBitCast(y, to: SIMD8<UInt32>.self) | sign, to: F8.self)
}

/// Applies `f` to `n` floats from `src` into `dst`, eight at a time (the tail through a padded vector).
@inline(__always)
func mapVectorized(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ f: (F8) -> F8) {
    var i = 0
    let rs = UnsafeRawPointer(src), rd = UnsafeMutableRawPointer(dst)
    while i + 8 <= n {
        rd.storeBytes(of: f(rs.loadUnaligned(fromByteOffset: i * 4, as: F8.self)), toByteOffset: i * 4, as: F8.self)
        i += 8
    }
    if i < n {
        var v = F8(repeating: 0)
        for j in 0..<(n - i) { v[j] = src[i + j] }
        let r = f(v)
        for j in 0..<(n - i) { dst[i + j] = r[j] }
    }
}

// MARK: row kernels (scalar and 8-lane forms)

/// In-place stable softmax of one row of `n` values. An all −∞ row becomes zeros.
@inline(__always)
func softmaxRowInPlace(_ d: UnsafeMutablePointer<Float>, _ n: Int, _ vectorized: Bool) {
    let m = maxRow(d, n, vectorized)
    if m == -Float.infinity {
        d.update(repeating: 0, count: n)
        return
    }
    if !vectorized {
        var sum: Float = 0
        for j in 0..<n { let e = expf(d[j] - m); d[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<n { d[j] *= inv }
        return
    }
    var acc = F8(repeating: 0)
    var j = 0
    let raw = UnsafeMutableRawPointer(d)
    let mv = F8(repeating: m)
    while j + 8 <= n {
        let e = vexp(raw.loadUnaligned(fromByteOffset: j * 4, as: F8.self) - mv)
        raw.storeBytes(of: e, toByteOffset: j * 4, as: F8.self)
        acc += e
        j += 8
    }
    var sum = acc.sum()
    while j < n { let e = expf(d[j] - m); d[j] = e; sum += e; j += 1 }
    let inv = 1 / sum
    for j in 0..<n { d[j] *= inv }
}

/// Sum of `n` floats with eight independent SIMD lanes (vectorizes without fast-math).
@inline(__always)
func sumRow(_ p: UnsafePointer<Float>, _ n: Int, _ vectorized: Bool) -> Float {
    if !vectorized {
        var s: Float = 0
        for j in 0..<n { s += p[j] }
        return s
    }
    var acc = SIMD8<Float>(repeating: 0)
    var j = 0
    let raw = UnsafeRawPointer(p)
    while j + 8 <= n {
        acc += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
        j += 8
    }
    var s = acc.sum()
    while j < n { s += p[j]; j += 1 }
    return s
}

/// Largest of `n` floats (−∞ for an empty or all −∞ row).
@inline(__always)
func maxRow(_ p: UnsafePointer<Float>, _ n: Int, _ vectorized: Bool) -> Float {
    if !vectorized {
        var m = -Float.infinity
        for j in 0..<n { m = Swift.max(m, p[j]) }
        return m
    }
    var acc = F8(repeating: -.infinity)
    var j = 0
    let raw = UnsafeRawPointer(p)
    while j + 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: j * 4, as: F8.self)
        acc.replace(with: v, where: v .> acc)
        j += 8
    }
    var m = acc.max()
    while j < n { m = Swift.max(m, p[j]); j += 1 }
    return m
}

/// Σ (p[j] − mean)² over `n` floats.
@inline(__always)
func centeredSquares(_ p: UnsafePointer<Float>, _ n: Int, _ mean: Float, _ vectorized: Bool) -> Float {
    if !vectorized {
        var s: Float = 0
        for j in 0..<n { let c = p[j] - mean; s += c * c }
        return s
    }
    var acc = F8(repeating: 0)
    let mv = F8(repeating: mean)
    var j = 0
    let raw = UnsafeRawPointer(p)
    while j + 8 <= n {
        let c = raw.loadUnaligned(fromByteOffset: j * 4, as: F8.self) - mv
        acc += c * c
        j += 8
    }
    var s = acc.sum()
    while j < n { let c = p[j] - mean; s += c * c; j += 1 }
    return s
}

/// Dot product of two rows of `n` floats (eight SIMD lanes).
@inline(__always)
func dotRow(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, _ vectorized: Bool) -> Float {
    if !vectorized {
        var s: Float = 0
        for j in 0..<n { s += a[j] * b[j] }
        return s
    }
    var acc0 = F8(repeating: 0), acc1 = F8(repeating: 0)
    var j = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while j + 16 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: j * 4, as: F8.self) * rb.loadUnaligned(fromByteOffset: j * 4, as: F8.self)
        acc1 += ra.loadUnaligned(fromByteOffset: j * 4 + 32, as: F8.self) * rb.loadUnaligned(fromByteOffset: j * 4 + 32, as: F8.self)
        j += 16
    }
    if j + 8 <= n {
        acc0 += ra.loadUnaligned(fromByteOffset: j * 4, as: F8.self) * rb.loadUnaligned(fromByteOffset: j * 4, as: F8.self)
        j += 8
    }
    var s = (acc0 + acc1).sum()
    while j < n { s += a[j] * b[j]; j += 1 }
    return s
}

/// log Σ e^{x_j} of `n` floats, stable (max subtracted first); −∞ for an empty or all −∞ row.
/// `vectorized` nil picks the build's default form (8 lanes in release builds).
public func logSumExpRow(_ p: UnsafePointer<Float>, _ n: Int, vectorized: Bool? = nil) -> Float {
    let vec = vectorized ?? vectorKernelsByDefault
    let m = maxRow(p, n, vec)
    guard m > -Float.infinity else { return -.infinity }
    var j = 0
    var sum: Float = 0
    if vec {
        var acc = F8(repeating: 0)
        let raw = UnsafeRawPointer(p)
        let mv = F8(repeating: m)
        while j + 8 <= n {
            acc += vexp(raw.loadUnaligned(fromByteOffset: j * 4, as: F8.self) - mv)
            j += 8
        }
        sum = acc.sum()
    }
    while j < n { sum += expf(p[j] - m); j += 1 }
    return m + logf(sum)
}
