import Foundation

/// Settings of `swiftcap serve`.
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); the bound port is reported by `CaptionServer.onListening`.
    public var port = 8080
    /// Captioner workers, each a dedicated thread with its own `Device`.
    public var workers = 1
    /// Threads per worker's `Device` (default: cores / workers, at least 1).
    public var threadsPerWorker: Int?
    /// Requests waiting beyond those being captioned; more are answered 503 at once.
    public var queue = 16
    public var maxBodyBytes = 20 << 20
    public var maxPixels = 50_000_000
    /// Deadline for one photo from acceptance to answer (queue wait + captioning); past it, 504.
    public var timeoutSeconds = 30.0
    /// Accepted API keys (bearer tokens); empty: no authentication.
    public var apiKeys: [String] = []
    /// `Access-Control-Allow-Origin` for browsers on another origin; nil: CORS off.
    public var corsOrigin: String?

    public init() {}

    public var effectiveThreadsPerWorker: Int {
        threadsPerWorker ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, workers))
    }

    /// Reads an API-key file: one key per line; blank lines and lines starting with # are ignored.
    public static func readAPIKeys(from url: URL) throws -> [String] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ServeConfigurationError("cannot read API-key file \(url.path): \(error.localizedDescription)")
        }
        let keys = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw ServeConfigurationError("API-key file \(url.path) holds no key") }
        return keys
    }

    public func validate() throws {
        guard (0...65535).contains(port) else { throw ServeConfigurationError("--port must be 0…65535, got \(port)") }
        guard (1...256).contains(workers) else { throw ServeConfigurationError("--workers must be 1…256, got \(workers)") }
        guard (0...100_000).contains(queue) else { throw ServeConfigurationError("--queue must be 0…100000, got \(queue)") }
        guard maxBodyBytes >= 1 else { throw ServeConfigurationError("--max-body-mb must be positive") }
        guard maxPixels >= 1 else { throw ServeConfigurationError("--max-pixels must be positive") }
        guard timeoutSeconds > 0, timeoutSeconds.isFinite else { throw ServeConfigurationError("--timeout-s must be positive") }
    }
}

public struct ServeConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Bearer-token check in constant time: every accepted key is compared in full, whatever matches or differs.
public struct APIKeyChecker: Sendable {
    let keys: [[UInt8]]

    public init(keys: [String]) { self.keys = keys.map { Array($0.utf8) } }

    public var isEnabled: Bool { !keys.isEmpty }

    /// True when `authorization` is `Bearer <one of the keys>`.
    public func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let prefix = "Bearer "
        guard authorization.count > prefix.count, authorization.lowercased().hasPrefix(prefix.lowercased()) else { return false }
        let candidate = Array(authorization.utf8.dropFirst(prefix.utf8.count))
        var matched: UInt8 = 0
        for key in keys { matched |= Self.equal(candidate, key) }
        return matched == 1
    }

    /// 1 when equal, 0 otherwise; the time depends on the key's length only.
    static func equal(_ candidate: [UInt8], _ key: [UInt8]) -> UInt8 {
        var diff = UInt8(truncatingIfNeeded: candidate.count ^ key.count) | (candidate.count != key.count ? 1 : 0)
        for i in 0..<key.count {
            let c = i < candidate.count ? candidate[i] : 0
            diff |= c ^ key[i]
        }
        return diff == 0 ? 1 : 0
    }
}
