/// Elementwise arithmetic with numpy broadcasting, and scalar scale/shift.
///
/// Binary ops accept any two tensors whose shapes broadcast (right-aligned; size-1 dimensions
/// repeat) and return a new contiguous tensor of the broadcast shape. Inputs may be strided views.

/// The binary elementwise operations.
public enum BinaryOp: Sendable {
    case add, sub, mul, div
}

extension Device {
    /// `a + b` with broadcasting. a: [*], b: [*] (broadcastable) -> broadcast shape.
    public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .add) }
    /// `a - b` with broadcasting.
    public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .sub) }
    /// `a * b` with broadcasting.
    public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .mul) }
    /// `a / b` with broadcasting (IEEE division: x/0 gives ±inf or nan, as PyTorch does).
    public func div(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary(a, b, .div) }

    /// `x * factor` elementwise. x: [*] -> [*].
    public func scale(_ x: Tensor, by factor: Float) -> Tensor {
        mapContiguous(x) { src, dst, n in
            for i in 0..<n { dst[i] = src[i] * factor }
        }
    }

    /// `x + value` elementwise. x: [*] -> [*].
    public func add(_ x: Tensor, scalar value: Float) -> Tensor {
        mapContiguous(x) { src, dst, n in
            for i in 0..<n { dst[i] = src[i] + value }
        }
    }

    /// `x * factor + shift` elementwise (one pass). x: [*] -> [*].
    public func affine(_ x: Tensor, scale factor: Float, shift: Float) -> Tensor {
        mapContiguous(x) { src, dst, n in
            for i in 0..<n { dst[i] = src[i] * factor + shift }
        }
    }

    /// Applies `op` elementwise with numpy broadcasting.
    public func binary(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) throws -> Tensor {
        let name: String
        switch op {
        case .add: name = "add"
        case .sub: name = "sub"
        case .mul: name = "mul"
        case .div: name = "div"
        }
        let outShape = try broadcastShapes(a.shape, b.shape, op: name)
        let out = Tensor(zeros: outShape)
        let n = out.count
        if n == 0 { return out }
        let r = outShape.count
        // Strides of each input over the output shape; 0 on broadcast (size-1 or missing) dims.
        func broadcastStrides(_ t: Tensor) -> [Int] {
            var s = [Int](repeating: 0, count: r)
            let lead = r - t.rank
            for d in 0..<t.rank where t.shape[d] != 1 { s[lead + d] = t.strides[d] }
            return s
        }
        let sa = broadcastStrides(a), sb = broadcastStrides(b)
        let inner = r == 0 ? 1 : outShape[r - 1]
        let rows = n / inner
        let ia = r == 0 ? 0 : sa[r - 1], ib = r == 0 ? 0 : sb[r - 1]
        let pa = a.storage.pointer + a.offset, pb = b.storage.pointer + b.offset
        let po = out.contiguousPointer
        let outer = Array(outShape.dropLast())
        parallelFor(rows, costPerItem: inner) { start, end in
            // Offsets of the first row of this chunk.
            var index = [Int](repeating: 0, count: outer.count)
            var rem = start
            for d in stride(from: outer.count - 1, through: 0, by: -1) {
                index[d] = rem % outer[d]
                rem /= outer[d]
            }
            var oa = 0, ob = 0
            for d in 0..<outer.count { oa += index[d] * sa[d]; ob += index[d] * sb[d] }
            for row in start..<end {
                binaryRow(op, pa + oa, ia, pb + ob, ib, po + row * inner, inner)
                // advance the outer index by one row
                var d = outer.count - 1
                while d >= 0 {
                    index[d] += 1
                    oa += sa[d]; ob += sb[d]
                    if index[d] < outer[d] { break }
                    oa -= sa[d] * outer[d]; ob -= sb[d] * outer[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        withExtendedLifetime((a.storage, b.storage)) {}
        return out
    }

    /// Runs `body(src, dst, count)` over chunks of a contiguous copy of `x`, writing a new tensor of x's shape.
    @inline(__always)
    func mapContiguous(_ x: Tensor, _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let xc = x.contiguous()
        let out = Tensor(zeros: x.shape)
        let src = UnsafePointer(xc.contiguousPointer), dst = out.contiguousPointer
        parallelFor(out.count, costPerItem: 4) { start, end in
            body(src + start, dst + start, end - start)
        }
        withExtendedLifetime(xc.storage) {}
        return out
    }
}

/// One output row: `dst[j] = a[j*sa] op b[j*sb]`, with unit-stride and broadcast special cases
/// written as separate loops so the compiler vectorizes them.
@inline(__always)
private func binaryRow(_ op: BinaryOp, _ a: UnsafePointer<Float>, _ sa: Int,
                       _ b: UnsafePointer<Float>, _ sb: Int,
                       _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    switch op {
    case .add: rowLoop(a, sa, b, sb, dst, n) { $0 + $1 }
    case .sub: rowLoop(a, sa, b, sb, dst, n) { $0 - $1 }
    case .mul: rowLoop(a, sa, b, sb, dst, n) { $0 * $1 }
    case .div: rowLoop(a, sa, b, sb, dst, n) { $0 / $1 }
    }
}

@inline(__always)
private func rowLoop(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                     _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Float, Float) -> Float) {
    if sa == 1 && sb == 1 {
        for j in 0..<n { dst[j] = f(a[j], b[j]) }
    } else if sa == 1 && sb == 0 {
        let v = b[0]
        for j in 0..<n { dst[j] = f(a[j], v) }
    } else if sa == 0 && sb == 1 {
        let v = a[0]
        for j in 0..<n { dst[j] = f(v, b[j]) }
    } else {
        for j in 0..<n { dst[j] = f(a[j * sa], b[j * sb]) }
    }
}
