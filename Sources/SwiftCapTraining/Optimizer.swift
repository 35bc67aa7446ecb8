import Foundation
import SwiftCapTensor

/// Learning rate: linear warm-up from 0 to `peak` over `warmupSteps`, then cosine decay to
/// `peak · finalFraction` at `totalSteps`.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var finalFraction: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, finalFraction: Float = 0.1) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.finalFraction = finalFraction
    }

    /// Rate for the 0-based `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(max(1, warmupSteps)) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Float(step - warmupSteps) / Float(span))
        let floor = peak * finalFraction
        return floor + (peak - floor) * 0.5 * (1 + cos(Float.pi * progress))
    }
}

/// AdamW (decoupled weight decay) over a flat parameter buffer, with global-norm gradient clipping.
public struct AdamW: Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.1
    /// First and second moments: [parameterCount]
    public var m: [Float]
    public var v: [Float]
    /// Updates done so far (the bias correction uses it).
    public var step: Int = 0

    public init(parameterCount: Int) {
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
    }

    /// L2 norm of `grads`.
    public static func norm(_ grads: [Float]) -> Float {
        var s: Double = 0
        for g in grads { s += Double(g) * Double(g) }
        return Float(s.squareRoot())
    }

    /// Scales `grads` so their norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ grads: inout [Float], maxNorm: Float) -> Float {
        let n = norm(grads)
        if maxNorm > 0, n > maxNorm {
            let s = maxNorm / n
            for i in 0..<grads.count { grads[i] *= s }
        }
        return n
    }

    /// One update. `decayMask[i]` says whether parameter i gets weight decay (per slot).
    public mutating func update(params: inout [Float], grads: [Float], slots: [ParameterSlot], lr: Float, device: Device) {
        step += 1
        let b1 = beta1, b2 = beta2, eps = epsilon
        let c1 = 1 - pow(b1, Float(step)), c2 = 1 - pow(b2, Float(step))
        params.withUnsafeMutableBufferPointer { P in
            m.withUnsafeMutableBufferPointer { M in
                v.withUnsafeMutableBufferPointer { V in
                    grads.withUnsafeBufferPointer { G in
                        let P = P.baseAddress!, M = M.baseAddress!, V = V.baseAddress!, G = G.baseAddress!
                        for s in slots {
                            let wd = s.decays ? weightDecay : 0
                            let base = s.offset
                            device.parallelFor(s.count, costPerItem: 16) { a, b in
                                for i in (base + a)..<(base + b) {
                                    let g = G[i]
                                    M[i] = b1 * M[i] + (1 - b1) * g
                                    V[i] = b2 * V[i] + (1 - b2) * g * g
                                    let mh = M[i] / c1, vh = V[i] / c2
                                    P[i] -= lr * (mh / (vh.squareRoot() + eps) + wd * P[i])
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
