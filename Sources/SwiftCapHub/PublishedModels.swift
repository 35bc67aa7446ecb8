import Foundation

/// The published captioning architectures SwiftCap runs (names as `swiftcap caption --arch` spells them).
public enum PublishedArchitecture: String, Sendable, CaseIterable {
    case clipcap, smallcap, blip
}

/// A captioner resolved from the hub: where its files are in the cache.
public struct ResolvedCaptioner: Sendable {
    public let architecture: PublishedArchitecture
    public let repo: RepoID
    /// The snapshot folder of `repo` (what `caption --arch … --weights` takes).
    public let weights: URL
    /// ClipCap: the CLIP ViT-B/32 snapshot (openai/clip-vit-base-patch32).
    public let clip: URL?
    /// ClipCap, SmallCap: the GPT-2 tokenizer snapshot (openai-community/gpt2: vocab.json, merges.txt).
    public let tokenizer: URL?
    /// How `architecture` was decided, for messages.
    public let reason: String
}

/// Maps hub repositories to SwiftCap's captioners and fetches only the files each needs.
public enum PublishedModels {
    /// Repositories whose architecture is known without reading them.
    public static let known: [String: PublishedArchitecture] = [
        "Salesforce/blip-image-captioning-base": .blip,
        "Salesforce/blip-image-captioning-large": .blip,
        "Yova/SmallCap7M": .smallcap,
    ]
    public static let clipRepo = try! RepoID(parsing: "openai/clip-vit-base-patch32")
    public static let gpt2Repo = try! RepoID(parsing: "openai-community/gpt2")
    static let clipFiles = ["config.json", "model.safetensors"]
    static let gpt2Files = ["vocab.json", "merges.txt"]
    /// Small files every captioner may read (configs, tokenizer files).
    static let smallFiles = ["config.json", "preprocessor_config.json", "generation_config.json", "vocab.txt", "vocab.json",
                             "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

    /// The architecture a `config.json` describes, or an error naming what it says.
    public static func architecture(configJSON data: Data, file: String) throws -> PublishedArchitecture {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HubError.protocolError(url: file, "config.json is not a JSON object")
        }
        let archs = obj["architectures"] as? [String] ?? []
        let type = obj["model_type"] as? String
        let decoderType = (obj["decoder"] as? [String: Any])?["model_type"] as? String
        if archs.contains("BlipForConditionalGeneration") || type == "blip" { return .blip }
        if archs.contains("SmallCap") || type == "smallcap" || (type == "vision-encoder-decoder" && decoderType == "this_gpt2") { return .smallcap }
        throw HubError.protocolError(url: file, "not a captioner SwiftCap runs: config.json has architectures \(archs), model_type \(type ?? "none")"
                                     + (decoderType.map { ", decoder model_type \($0)" } ?? "")
                                     + " (SwiftCap runs BlipForConditionalGeneration, SmallCap, and ClipCap .pt checkpoints)")
    }

    /// The architecture from a repository's file names and config: known name, then config.json, then a lone `.pt` (ClipCap).
    static func recognise(_ repo: RepoID, files: [String], config: () throws -> Data?) throws -> (PublishedArchitecture, String) {
        if let a = known[repo.id] { return (a, "\(repo.id) is a known \(a.rawValue) repository") }
        if files.contains("config.json"), let data = try config() {
            return (try architecture(configJSON: data, file: "\(repo.id)/config.json"), "\(repo.id)/config.json")
        }
        let pt = files.filter { $0.hasSuffix(".pt") || $0.hasSuffix(".pth") }
        if pt.count == 1 { return (.clipcap, "\(repo.id) has one PyTorch checkpoint (\(pt[0])) and no config.json: ClipCap") }
        throw HubError.protocolError(url: repo.id, "cannot tell the architecture: no config.json and \(pt.count) .pt files among \(files.prefix(20).joined(separator: ", "))")
    }

    /// Files to fetch for `arch` out of the repository's `files`: configs and tokenizer files, and one weights
    /// file (safetensors preferred over pytorch_model.bin; ClipCap: its one .pt).
    static func neededFiles(_ arch: PublishedArchitecture, files: [String]) -> [String] {
        var need = files.filter { smallFiles.contains($0) }
        switch arch {
        case .blip, .smallcap:
            if files.contains("model.safetensors") { need.append("model.safetensors") }
            else if files.contains("pytorch_model.bin") { need.append("pytorch_model.bin") }
        case .clipcap:
            need += files.filter { $0.hasSuffix(".pt") || $0.hasSuffix(".pth") || $0 == "clipcap.safetensors" }
        }
        return need
    }

    /// What must be in a cached snapshot for it to be used without the network.
    static func cacheComplete(_ arch: PublishedArchitecture, folder: URL) -> Bool {
        let fm = FileManager.default
        func has(_ f: String) -> Bool { fm.fileExists(atPath: folder.appendingPathComponent(f).path) }
        switch arch {
        case .blip: return has("config.json") && has("vocab.txt") && (has("model.safetensors") || has("pytorch_model.bin"))
        case .smallcap: return has("config.json") && (has("model.safetensors") || has("pytorch_model.bin"))
        case .clipcap:
            let names = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
            return names.contains { $0.hasSuffix(".pt") || $0.hasSuffix(".pth") || $0 == "clipcap.safetensors" }
        }
    }

    /// A cached snapshot's architecture without the network (known name, config.json, or one .pt).
    static func cachedArchitecture(_ repo: RepoID, folder: URL) -> PublishedArchitecture? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return try? recognise(repo, files: names, config: { try? Data(contentsOf: folder.appendingPathComponent("config.json")) }).0
    }

    /// Resolves `repo` to a captioner: from the cache alone when everything is there (no network call, as a model
    /// downloaded by Python tools is used), else by fetching what it needs (unless `client.environment.offline`).
    /// `architecture` overrides the recognition.
    public static func resolve(_ repo: RepoID, client: HubClient, architecture: PublishedArchitecture? = nil) throws -> ResolvedCaptioner {
        let (arch, folder, reason) = try fetch(repo, client: client, architecture: architecture)
        var clip: URL? = nil, tokenizer: URL? = nil
        if arch == .clipcap { clip = try companion(clipRepo, files: clipFiles, client: client) }
        if arch == .clipcap || arch == .smallcap {
            let has = gpt2Files.allSatisfy { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
            tokenizer = has ? folder : try companion(gpt2Repo, files: gpt2Files, client: client)
        }
        return ResolvedCaptioner(architecture: arch, repo: repo, weights: folder, clip: clip, tokenizer: tokenizer, reason: reason)
    }

    private static func fetch(_ repo: RepoID, client: HubClient, architecture: PublishedArchitecture?) throws -> (PublishedArchitecture, URL, String) {
        let cache = client.cache
        if let folder = try? cache.cachedSnapshot(repo), let arch = architecture ?? cachedArchitecture(repo, folder: folder),
           cacheComplete(arch, folder: folder) {
            return (arch, folder, "from the cache (\(folder.path))")
        }
        if client.environment.offline {
            let what = (try? cache.cachedSnapshot(repo)).map { "the weights or config in \($0.path)" }
                ?? cache.refFile(repo, revision: repo.revision).path
            throw HubError.offlineMissing(repo: repo.id, revision: repo.revision, missing: what)
        }
        let commit = repo.revisionIsCommit ? repo.revision : try client.resolveCommit(repo)
        let pinned = try RepoID(org: repo.org, name: repo.name, revision: commit)
        let files = try client.listFiles(repo, commit: commit).map(\.path)
        let (arch, reason) = try architecture.map { ($0, "--arch \($0.rawValue)") } ?? recognise(repo, files: files, config: {
            _ = try client.pull(pinned, include: ["config.json"])
            return try? Data(contentsOf: cache.snapshotFolder(repo, commit: commit).appendingPathComponent("config.json"))
        })
        let need = neededFiles(arch, files: files)
        guard !need.isEmpty else { throw HubError.noFilesMatched(repo: repo.id, patterns: ["(\(arch.rawValue) weights)"], available: files) }
        let r = try client.pull(pinned, include: need)
        if !repo.revisionIsCommit { try cache.writeRef(repo, revision: repo.revision, commit: commit) }
        return (arch, r.snapshot, reason)
    }

    private static func companion(_ repo: RepoID, files: [String], client: HubClient) throws -> URL {
        if let folder = try? client.cache.cachedSnapshot(repo, requiredFiles: files) { return folder }
        if client.environment.offline { _ = try client.cache.cachedSnapshot(repo, requiredFiles: files) }
        return try client.pull(repo, include: files).snapshot
    }
}
