import Foundation

/// Where SwiftCap finds the files it does not ship: the public assets fetched from PyPI by
/// `scripts/fetch-assets.sh`, and the shared folder (`../shared`: detector, evaluation photos).
public struct AssetPaths: Sendable {
    /// Folder of unpacked PyPI assets (`$SWIFTCAP_ASSETS`, default `~/.cache/swiftcap/assets`).
    public var assets: URL
    /// The shared folder (`$SWIFTCAP_SHARED`, default `../shared` beside the repository).
    public var shared: URL

    public init(assets: URL, shared: URL) {
        self.assets = assets
        self.shared = shared
    }

    /// Paths from the environment, with `repositoryRoot` used to find `../shared` when
    /// `$SWIFTCAP_SHARED` is unset.
    public static func fromEnvironment(repositoryRoot: URL? = nil) -> AssetPaths {
        let env = ProcessInfo.processInfo.environment
        let assets: URL
        if let a = env["SWIFTCAP_ASSETS"], !a.isEmpty {
            assets = URL(fileURLWithPath: a)
        } else {
            let cache = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
            assets = cache.appendingPathComponent("swiftcap/assets")
        }
        let shared: URL
        if let s = env["SWIFTCAP_SHARED"], !s.isEmpty {
            shared = URL(fileURLWithPath: s)
        } else if let root = repositoryRoot {
            shared = root.deletingLastPathComponent().appendingPathComponent("shared")
        } else {
            shared = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                .deletingLastPathComponent().appendingPathComponent("shared")
        }
        return AssetPaths(assets: assets, shared: shared)
    }

    /// A file under the assets folder, e.g. `asset("gpt2/gpt2_vocab.json")`.
    public func asset(_ relative: String) -> URL { assets.appendingPathComponent(relative) }
    /// A file under the shared folder, e.g. `sharedFile("models/picodet_s_416_coco.onnx")`.
    public func sharedFile(_ relative: String) -> URL { shared.appendingPathComponent(relative) }
}
