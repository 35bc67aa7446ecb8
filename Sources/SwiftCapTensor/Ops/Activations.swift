import Foundation

/// Pointwise activation functions, with PyTorch's definitions. Each takes x: [*] and returns a new
/// tensor of the same shape; work is split over `parallelFor` in contiguous chunks.

/// An activation chosen at run time (from a model config, for example).
public enum Activation: Sendable, Equatable {
    /// GELU with the exact erf form: `0.5 x (1 + erf(x / √2))` (`nn.GELU()`).
    case gelu
    /// GELU with the tanh approximation (`nn.GELU(approximate="tanh")`, GPT-2's "gelu_new").
    case geluTanh
    /// `x · sigmoid(1.702 x)` (CLIP).
    case quickGELU
    /// `x · sigmoid(x)` (a.k.a. swish).
    case silu
    case relu
    /// `min(max(x, 0), 6)`.
    case relu6
    /// `x · relu6(x + 3) / 6`.
    case hardSwish
    /// `max(0, min(1, alpha·x + beta))`; PyTorch's `hardsigmoid` is alpha = 1/6, beta = 0.5.
    case hardSigmoid(alpha: Float, beta: Float)
    case sigmoid
    case identity

    /// PyTorch's hard-sigmoid, `relu6(x + 3) / 6`.
    public static let hardSigmoidPyTorch = Activation.hardSigmoid(alpha: 1.0 / 6.0, beta: 0.5)

    /// The activation named by a Hugging Face config's `hidden_act` / `activation_function`
    /// ("gelu", "gelu_new", "gelu_pytorch_tanh", "quick_gelu", "silu", "swish", "relu", …); nil if unknown.
    public init?(configName: String) {
        switch configName.lowercased() {
        case "gelu", "gelu_python": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_tanh": self = .geluTanh
        case "quick_gelu", "quickgelu": self = .quickGELU
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        case "relu6": self = .relu6
        case "hardswish", "hard_swish": self = .hardSwish
        case "hardsigmoid", "hard_sigmoid": self = .hardSigmoidPyTorch
        case "sigmoid": self = .sigmoid
        case "linear", "identity", "none": self = .identity
        default: return nil
        }
    }
}

extension Device {
    /// Applies `activation` elementwise. x: [*] -> [*].
    public func activation(_ x: Tensor, _ activation: Activation) -> Tensor {
        switch activation {
        case .gelu: return gelu(x)
        case .geluTanh: return geluTanh(x)
        case .quickGELU: return quickGELU(x)
        case .silu: return silu(x)
        case .relu: return relu(x)
        case .relu6: return relu6(x)
        case .hardSwish: return hardSwish(x)
        case .hardSigmoid(let alpha, let beta): return hardSigmoid(x, alpha: alpha, beta: beta)
        case .sigmoid: return sigmoid(x)
        case .identity: return x
        }
    }

    /// Exact GELU: `0.5 x (1 + erf(x / √2))`.
    public func gelu(_ x: Tensor) -> Tensor { gelu(x, vectorized: vectorKernelsByDefault) }

    func gelu(_ x: Tensor, vectorized: Bool) -> Tensor {
        mapUnary(x, vectorized, scalar: { x in 0.5 * x * (1 + erff(x * 0.70710678118654752)) },
                 vector: { x in 0.5 * x * (1 + verf(x * 0.70710678118654752)) })
    }

    /// Tanh-approximated GELU: `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    public func geluTanh(_ x: Tensor) -> Tensor { geluTanh(x, vectorized: vectorKernelsByDefault) }

    func geluTanh(_ x: Tensor, vectorized: Bool) -> Tensor {
        // 0.5 (1 + tanh(u)) = sigmoid(2u), u = √(2/π) (x + 0.044715 x³)
        mapUnary(x, vectorized, scalar: { x in x / (1 + expf(-1.5957691216057308 * (x + 0.044715 * x * x * x))) },
                 vector: { x in x * vsigmoid(1.5957691216057308 * (x + 0.044715 * x * x * x)) })
    }

    /// QuickGELU: `x · sigmoid(1.702 x)`.
    public func quickGELU(_ x: Tensor) -> Tensor { quickGELU(x, vectorized: vectorKernelsByDefault) }

    func quickGELU(_ x: Tensor, vectorized: Bool) -> Tensor {
        mapUnary(x, vectorized, scalar: { x in x / (1 + expf(-1.702 * x)) }, vector: { x in x * vsigmoid(1.702 * x) })
    }

    /// SiLU: `x · sigmoid(x)`.
    public func silu(_ x: Tensor) -> Tensor { silu(x, vectorized: vectorKernelsByDefault) }

    func silu(_ x: Tensor, vectorized: Bool) -> Tensor {
        mapUnary(x, vectorized, scalar: { x in x / (1 + expf(-x)) }, vector: { x in x * vsigmoid(x) })
    }

    /// ReLU: `max(x, 0)`.
    public func relu(_ x: Tensor) -> Tensor {
        mapContiguous(x) { src, dst, n in
            for i in 0..<n { dst[i] = Swift.max(src[i], 0) }
        }
    }

    /// ReLU6: `min(max(x, 0), 6)`.
    public func relu6(_ x: Tensor) -> Tensor {
        mapContiguous(x) { src, dst, n in
            for i in 0..<n { dst[i] = Swift.min(Swift.max(src[i], 0), 6) }
        }
    }

    /// Hard-swish: `x · relu6(x + 3) / 6`.
    public func hardSwish(_ x: Tensor) -> Tensor {
        mapContiguous(x) { src, dst, n in
            for i in 0..<n {
                let v = src[i]
                dst[i] = v * Swift.min(Swift.max(v + 3, 0), 6) / 6
            }
        }
    }

    /// Hard-sigmoid: `max(0, min(1, alpha·x + beta))`. The defaults are PyTorch's `relu6(x + 3) / 6`;
    /// ONNX `HardSigmoid` passes its own `alpha` (default 0.2) and `beta` (default 0.5).
    public func hardSigmoid(_ x: Tensor, alpha: Float = 1.0 / 6.0, beta: Float = 0.5) -> Tensor {
        let pytorch = alpha == Float(1.0 / 6.0) && beta == 0.5
        return mapContiguous(x) { src, dst, n in
            if pytorch {
                // Same operation order as PyTorch: relu6(x + 3) / 6.
                for i in 0..<n { dst[i] = Swift.min(Swift.max(src[i] + 3, 0), 6) / 6 }
            } else {
                for i in 0..<n { dst[i] = Swift.min(Swift.max(alpha * src[i] + beta, 0), 1) }
            }
        }
    }

    /// Logistic sigmoid: `1 / (1 + e^(−x))`.
    public func sigmoid(_ x: Tensor) -> Tensor { sigmoid(x, vectorized: vectorKernelsByDefault) }

    func sigmoid(_ x: Tensor, vectorized: Bool) -> Tensor {
        mapUnary(x, vectorized, scalar: { x in 1 / (1 + expf(-x)) }, vector: { x in vsigmoid(x) })
    }

    /// Maps `x` elementwise with the scalar or the 8-lane form of one function.
    @inline(__always)
    func mapUnary(_ x: Tensor, _ vectorized: Bool, scalar: (Float) -> Float, vector: (F8) -> F8) -> Tensor {
        mapContiguous(x) { src, dst, n in
            if vectorized {
                mapVectorized(src, dst, n, vector)
            } else {
                for i in 0..<n { dst[i] = scalar(src[i]) }
            }
        }
    }
}
