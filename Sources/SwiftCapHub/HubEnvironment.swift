import Foundation

/// Where the cache is, which hub to talk to, whether the network may be used, and the token — read from the
/// same environment variables and files as Python's huggingface_hub.
public struct HubEnvironment: Sendable {
    /// `$HF_HUB_CACHE` > `$HUGGINGFACE_HUB_CACHE` > `$HF_HOME/hub` > `$XDG_CACHE_HOME/huggingface/hub` > `~/.cache/huggingface/hub`.
    public var cacheDirectory: URL
    /// `$HF_ENDPOINT` (trailing '/' removed) or https://huggingface.co.
    public var endpoint: URL
    /// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is 1/ON/YES/TRUE: no network call at all.
    public var offline: Bool
    /// `$HF_TOKEN` > `$HUGGING_FACE_HUB_TOKEN` > the file `$HF_TOKEN_PATH` (default `$HF_HOME/token`).
    /// Sent as a Bearer token only to the endpoint's host; never printed (`description` hides it).
    public var token: String?

    public init(cacheDirectory: URL, endpoint: URL, offline: Bool = false, token: String? = nil) {
        self.cacheDirectory = cacheDirectory
        self.endpoint = endpoint
        self.offline = offline
        self.token = token
    }

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> HubEnvironment {
        func value(_ k: String) -> String? { env[k].flatMap { $0.isEmpty ? nil : $0 } }
        let home = value("HOME").map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        let hfHome = value("HF_HOME").map { URL(fileURLWithPath: expandTilde($0, home: home)) }
            ?? (value("XDG_CACHE_HOME").map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent(".cache"))
                .appendingPathComponent("huggingface")
        let cache = (value("HF_HUB_CACHE") ?? value("HUGGINGFACE_HUB_CACHE")).map { URL(fileURLWithPath: expandTilde($0, home: home)) }
            ?? hfHome.appendingPathComponent("hub")
        var endpointText = value("HF_ENDPOINT") ?? "https://huggingface.co"
        while endpointText.hasSuffix("/") { endpointText.removeLast() }
        let endpoint = URL(string: endpointText) ?? URL(string: "https://huggingface.co")!
        let offline = ["1", "ON", "YES", "TRUE"].contains((value("HF_HUB_OFFLINE") ?? value("TRANSFORMERS_OFFLINE") ?? "").uppercased())
        var token = value("HF_TOKEN") ?? value("HUGGING_FACE_HUB_TOKEN")
        if token == nil {
            let tokenFile = value("HF_TOKEN_PATH").map { URL(fileURLWithPath: expandTilde($0, home: home)) } ?? hfHome.appendingPathComponent("token")
            token = (try? String(contentsOf: tokenFile, encoding: .utf8))
        }
        token = token?.trimmingCharacters(in: .whitespacesAndNewlines)
        if token?.isEmpty == true { token = nil }
        return HubEnvironment(cacheDirectory: cache, endpoint: endpoint, offline: offline, token: token)
    }

    private static func expandTilde(_ p: String, home: URL) -> String {
        p == "~" ? home.path : (p.hasPrefix("~/") ? home.path + String(p.dropFirst()) : p)
    }
}

extension HubEnvironment: CustomStringConvertible {
    public var description: String {
        "cache \(cacheDirectory.path), endpoint \(endpoint.absoluteString), offline \(offline), token \(token == nil ? "none" : "set (hidden)")"
    }
}
