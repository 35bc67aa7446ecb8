import Foundation

/// Statistics of timing samples (milliseconds).
public struct SampleStats: Sendable, Equatable {
    public var count: Int
    public var median: Double
    /// Nearest-rank 90th percentile.
    public var p90: Double
    public var min: Double

    /// samples: at least one value; returns nil for an empty list.
    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let s = samples.sorted()
        count = s.count
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        p90 = s[Swift.max(0, Int((0.9 * Double(s.count)).rounded(.up)) - 1)]
        min = s[0]
    }
}

/// Errors talking to a peer benchmark process; each quotes the offending line.
public enum PeerProtocolError: Error, CustomStringConvertible, Equatable {
    case malformed(String, String)
    case peerError(String)
    case unexpected(String, String)

    public var description: String {
        switch self {
        case .malformed(let line, let why): return "peer sent a malformed line (\(why)): \(PeerProtocolError.clip(line))"
        case .peerError(let message): return "peer reported an error: \(message)"
        case .unexpected(let line, let wanted): return "peer sent \(PeerProtocolError.clip(line)) where \(wanted) was expected"
        }
    }

    static func clip(_ s: String) -> String { s.count > 200 ? String(s.prefix(200)) + "…" : s }
}

/// One line from `scripts/bench_torch_peers.py --serve` (one JSON object per line).
public enum PeerReply: Sendable, Equatable {
    /// Models built: the peer's framework version, its thread count, its workload names, and the
    /// concept-decoder prompt ids it times (empty when it did not say).
    case ready(framework: String, threads: Int, workloads: [String], decoderPrompt: [Int])
    /// Timing samples in ms of one workload.
    case samples(name: String, ms: [Double])
    /// Next-token logits of the concept decoder for a prompt.
    case logits([Float])

    /// Parses one line; `{"error": …}` lines throw `.peerError`, anything else unrecognised `.malformed`.
    public static func parse(_ line: String) throws -> PeerReply {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw PeerProtocolError.malformed(line, "empty line") }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) } catch {
            throw PeerProtocolError.malformed(line, "not JSON")
        }
        guard let obj = any as? [String: Any] else { throw PeerProtocolError.malformed(line, "not a JSON object") }
        if let message = obj["error"] {
            throw PeerProtocolError.peerError("\(message)")
        }
        if obj["ready"] != nil {
            guard let threads = (obj["threads"] as? NSNumber)?.intValue, threads >= 1 else {
                throw PeerProtocolError.malformed(line, "ready without a positive 'threads'")
            }
            let workloads = obj["workloads"] as? [String] ?? []
            let info = obj["info"] as? [String: Any] ?? [:]
            var prompt: [Int] = []
            if let p = info["decoder_prompt"] {
                guard let numbers = p as? [NSNumber] else { throw PeerProtocolError.malformed(line, "'decoder_prompt' is not a list of ids") }
                prompt = numbers.map(\.intValue)
            }
            return .ready(framework: "\(obj["torch"] ?? "?")", threads: threads, workloads: workloads, decoderPrompt: prompt)
        }
        if let name = obj["name"] as? String {
            guard let values = obj["ms"] as? [NSNumber], !values.isEmpty else {
                throw PeerProtocolError.malformed(line, "'ms' is not a non-empty list of numbers")
            }
            let ms = values.map(\.doubleValue)
            guard ms.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw PeerProtocolError.malformed(line, "negative or non-finite sample") }
            return .samples(name: name, ms: ms)
        }
        if let values = obj["logits"] {
            guard let numbers = values as? [NSNumber], !numbers.isEmpty else {
                throw PeerProtocolError.malformed(line, "'logits' is not a non-empty list of numbers")
            }
            return .logits(numbers.map(\.floatValue))
        }
        throw PeerProtocolError.malformed(line, "no 'ready', 'name', 'logits' or 'error' key")
    }

    /// The request line asking for `runs` timed samples of `workload`.
    public static func runRequest(_ workload: String, runs: Int) -> String {
        "{\"run\": \"\(workload)\", \"runs\": \(runs)}"
    }

    /// The request line asking for the concept decoder's next-token logits after `prompt`.
    public static func logitsRequest(_ prompt: [Int]) -> String {
        "{\"logits\": [" + prompt.map(String.init).joined(separator: ", ") + "]}"
    }
}

/// One network timed by SwiftCap and by a peer: medians and the SwiftCap/peer ratio.
public struct PeerComparison: Sendable, Equatable {
    public var workload: String
    public var swift: SampleStats
    /// The peer's implementation whose median is used (the faster when several were timed).
    public var peerImplementation: String
    public var peer: SampleStats

    /// SwiftCap median / peer median: below 1 SwiftCap is faster.
    public var ratio: Double { swift.median / peer.median }

    /// Whether the ratio meets `target` (the issue's target is 0.8: SwiftCap at most 0.8× the peer's time).
    public func meets(_ target: Double = 0.8) -> Bool { ratio <= target }

    /// Compares SwiftCap's samples with the fastest (by median) of several peer implementations.
    /// - peers: implementation name -> samples; empty lists are ignored. Returns nil without samples on either side.
    public static func best(workload: String, swift: [Double], peers: [(String, [Double])]) -> PeerComparison? {
        guard let s = SampleStats(swift) else { return nil }
        var best: (String, SampleStats)?
        for (name, samples) in peers {
            guard let p = SampleStats(samples), p.median > 0 else { continue }
            if best == nil || p.median < best!.1.median { best = (name, p) }
        }
        guard let (name, p) = best else { return nil }
        return PeerComparison(workload: workload, swift: s, peerImplementation: name, peer: p)
    }
}

/// Largest absolute difference and whether the arg-max agrees, for a logits parity check.
public struct LogitsAgreement: Sendable, Equatable {
    public var maxAbsDifference: Float
    public var sameArgmax: Bool

    /// Throws when the vectors differ in length or are empty.
    public init(_ a: [Float], _ b: [Float]) throws {
        guard a.count == b.count, !a.isEmpty else {
            throw PeerProtocolError.unexpected("\(b.count) logits", "\(a.count) logits")
        }
        var m: Float = 0
        for i in a.indices { m = Swift.max(m, abs(a[i] - b[i])) }
        maxAbsDifference = m
        func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }
        sameArgmax = argmax(a) == argmax(b)
    }
}
