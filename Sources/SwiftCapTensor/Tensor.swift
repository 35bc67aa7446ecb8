import Foundation

/// Errors raised by tensor operations. Every case names the operation and the shapes involved.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(op: String, String)
    case invalidArgument(op: String, String)

    public var description: String {
        switch self {
        case .shapeMismatch(let op, let detail): return "\(op): shape mismatch: \(detail)"
        case .invalidArgument(let op, let detail): return "\(op): invalid argument: \(detail)"
        }
    }
}

/// Backing memory of a tensor: fp32 elements, either owned (allocated here) or borrowed from
/// an owner that keeps it alive (a memory-mapped checkpoint, for example).
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Keeps borrowed memory alive (e.g. a `MappedFile`); nil when the storage owns its memory.
    public let owner: AnyObject?
    private let owned: Bool

    /// Allocates `count` zero-initialised floats, 64-byte aligned.
    public init(count: Int) {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        self.owner = nil
        self.owned = true
    }

    /// Wraps memory owned by `owner` (not copied, not freed here).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
        self.owned = false
    }

    deinit {
        if owned { UnsafeMutableRawPointer(pointer).deallocate() }
    }
}

/// An n-dimensional fp32 tensor: a shape and strides (in elements) over a storage, plus an offset.
/// Value semantics: writes through `withUnsafeMutableBufferPointer` copy the storage first if it is shared.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    public private(set) var strides: [Int]
    public private(set) var offset: Int
    public private(set) var storage: TensorStorage

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }
    public var description: String { "Tensor\(shape)" }

    /// Row-major (C-order) strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = acc
            acc *= shape[i]
        }
        return strides
    }

    public init(storage: TensorStorage, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(shape)
        self.offset = offset
    }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.init(storage: TensorStorage(count: shape.reduce(1, *)), shape: shape)
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(zeros: shape)
        if value != 0 { storage.pointer.update(repeating: value, count: count) }
    }

    /// A tensor holding a copy of `values` (row-major). Precondition: `values.count == product(shape)`.
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "Tensor(values:shape:): \(values.count) values for shape \(shape)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: values.count) }
        }
    }

    /// A scalar-free 1-D tensor from values.
    public init(_ values: [Float]) { self.init(values, shape: [values.count]) }

    public var isContiguous: Bool { strides == Tensor.contiguousStrides(shape) }

    /// This tensor with contiguous row-major layout (self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        var out = Tensor(zeros: shape)
        let n = count
        if n == 0 { return out }
        let dst = out.storage.pointer
        let src = storage.pointer
        let r = rank
        var index = [Int](repeating: 0, count: r)
        var srcOff = offset
        // Innermost dimension copied in a tight loop.
        let inner = shape[r - 1], innerStride = strides[r - 1]
        var written = 0
        while written < n {
            var s = srcOff
            for j in 0..<inner { dst[written + j] = src[s]; s += innerStride }
            written += inner
            // advance the outer index
            var d = r - 2
            while d >= 0 {
                index[d] += 1
                srcOff += strides[d]
                if index[d] < shape[d] { break }
                srcOff -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        _ = out.storage
        out.offset = 0
        return out
    }

    /// Read-only access to the contiguous elements (makes a contiguous copy when needed).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = contiguous()
        return try body(UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count))
    }

    /// Mutable access to the elements; copies first if the storage is shared or the layout is strided.
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isContiguous || !isKnownUniquelyReferenced(&storage) || storage.owner != nil {
            let copy = Tensor(copying: self)
            self = copy
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer + offset, count: count))
    }

    /// A fresh contiguous copy with its own storage.
    public init(copying other: Tensor) {
        self.init(zeros: other.shape)
        let n = other.count
        other.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { storage.pointer.update(from: base, count: n) }
        }
    }

    /// Pointer to the first element of a contiguous tensor (for kernels). Precondition: contiguous.
    public var contiguousPointer: UnsafeMutablePointer<Float> {
        precondition(isContiguous, "contiguousPointer on a strided tensor")
        return storage.pointer + offset
    }

    /// All elements in row-major order.
    public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

    /// Element at a multi-index.
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "subscript: \(index.count) indices for rank \(rank)")
        var o = offset
        for (i, s) in zip(index, strides) { o += i * s }
        return storage.pointer[o]
    }

    // MARK: views

    /// Same elements, new shape (one dimension may be -1). Views when contiguous, copies otherwise.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var dims = newShape
        let known = dims.filter { $0 != -1 }.reduce(1, *)
        if let i = dims.firstIndex(of: -1) {
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: "reshape", "\(shape) -> \(newShape)")
            }
            dims[i] = count / known
        }
        guard dims.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(op: "reshape", "\(shape) (\(count) elements) -> \(newShape)")
        }
        let c = contiguous()
        return Tensor(storage: c.storage, shape: dims, offset: c.offset)
    }

    /// Permutes dimensions (a strided view, no copy).
    public func permuted(_ order: [Int]) throws -> Tensor {
        guard order.count == rank, Set(order) == Set(0..<rank) else {
            throw TensorError.invalidArgument(op: "permute", "order \(order) for rank \(rank)")
        }
        return Tensor(storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
    }

    /// Swaps two dimensions (negative indices count from the end).
    public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
        let i = a < 0 ? rank + a : a, j = b < 0 ? rank + b : b
        guard (0..<rank).contains(i), (0..<rank).contains(j) else {
            throw TensorError.invalidArgument(op: "transpose", "dims \(a), \(b) for rank \(rank)")
        }
        var order = Array(0..<rank)
        order.swapAt(i, j)
        return try permuted(order)
    }

    /// Elements `range` along `dim` (a strided view, no copy).
    public func narrowed(dim: Int, start: Int, length: Int) throws -> Tensor {
        let d = dim < 0 ? rank + dim : dim
        guard (0..<rank).contains(d), start >= 0, length >= 0, start + length <= shape[d] else {
            throw TensorError.invalidArgument(op: "narrow", "dim \(dim) start \(start) length \(length) of \(shape)")
        }
        var s = shape
        s[d] = length
        return Tensor(storage: storage, shape: s, strides: strides, offset: offset + start * strides[d])
    }

    /// Row `i` of the first dimension.
    public func row(_ i: Int) throws -> Tensor {
        let t = try narrowed(dim: 0, start: i, length: 1)
        return Tensor(storage: t.storage, shape: Array(t.shape.dropFirst()), strides: Array(t.strides.dropFirst()), offset: t.offset)
    }
}

extension Tensor {
    /// Max absolute difference between two tensors of the same shape.
    public func maxAbsDifference(_ other: Tensor) throws -> Float {
        guard shape == other.shape else {
            throw TensorError.shapeMismatch(op: "maxAbsDifference", "\(shape) vs \(other.shape)")
        }
        let a = scalars, b = other.scalars
        var m: Float = 0
        for i in 0..<a.count { m = Swift.max(m, abs(a[i] - b[i])) }
        return m
    }
}
