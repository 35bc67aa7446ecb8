/// Vectorised float math for the hot loops (eight lanes at a time, plain Swift SIMD so it compiles
/// everywhere). Accuracy: `vexp` is within 2 ulp of expf over its range (Cephes-style reduction and
/// polynomial); `verf` is Abramowitz–Stegun 7.1.26 (absolute error ≤ 1.5e-7).

typealias F8 = SIMD8<Float>

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
