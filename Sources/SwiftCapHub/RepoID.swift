import Foundation

/// A model repository on the hub: `ORG/NAME` with an optional `@REVISION` (branch, tag or commit hash).
public struct RepoID: Hashable, CustomStringConvertible, Sendable {
    public let org: String
    public let name: String
    /// Branch, tag or 40-hex commit; "main" when none was given.
    public let revision: String

    public var id: String { "\(org)/\(name)" }
    public var description: String { revision == "main" ? id : "\(id)@\(revision)" }
    /// The cache folder name huggingface_hub uses: `models--ORG--NAME`.
    public var cacheFolderName: String { "models--\(org)--\(name)" }
    /// True when the revision is a full commit hash (immutable: no network needed to resolve it).
    public var revisionIsCommit: Bool { RepoID.isCommitHash(revision) }

    public init(org: String, name: String, revision: String = "main") throws {
        let text = "\(org)/\(name)@\(revision)"
        for (part, what) in [(org, "organisation"), (name, "name")] {
            guard !part.isEmpty else { throw HubError.invalidRepoID(text, reason: "empty \(what)") }
            guard part.count <= 96 else { throw HubError.invalidRepoID(text, reason: "\(what) longer than 96 characters") }
            guard part.unicodeScalars.allSatisfy({ RepoID.allowed.contains($0) }) else {
                throw HubError.invalidRepoID(text, reason: "\(what) '\(part)' may only hold letters, digits, '-', '_' and '.'")
            }
            guard !part.hasPrefix("-"), !part.hasPrefix("."), !part.hasSuffix("."), !part.contains("--"), !part.contains("..") else {
                throw HubError.invalidRepoID(text, reason: "\(what) '\(part)' may not start with '-' or '.', end with '.', or contain '--' or '..'")
            }
        }
        guard !revision.isEmpty else { throw HubError.invalidRepoID(text, reason: "empty revision after '@'") }
        guard !revision.hasPrefix("/"), !revision.contains(".."), !revision.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\\" }) else {
            throw HubError.invalidRepoID(text, reason: "revision '\(revision)' is not a branch, tag or commit")
        }
        self.org = org
        self.name = name
        self.revision = revision
    }

    /// Parses `ORG/NAME` or `ORG/NAME@REVISION`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var repo = Substring(trimmed), revision = "main"
        if let at = trimmed.firstIndex(of: "@") {
            repo = trimmed[..<at]
            revision = String(trimmed[trimmed.index(after: at)...])
            guard !revision.isEmpty else { throw HubError.invalidRepoID(text, reason: "empty revision after '@'") }
        }
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw HubError.invalidRepoID(text, reason: parts.count < 2 ? "no '/' between organisation and name" : "more than one '/'")
        }
        try self.init(org: String(parts[0]), name: String(parts[1]), revision: revision)
    }

    private static let allowed: Set<Unicode.Scalar> = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".unicodeScalars)

    public static func isCommitHash(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Whether `text` has the shape of a repository id (used to tell `--model ORG/NAME` from a file path).
    public static func looksLikeRepoID(_ text: String) -> Bool {
        let fileSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx", ".json", ".scds"]
        guard !text.hasPrefix("/"), !text.hasPrefix("."), !fileSuffixes.contains(where: { text.hasSuffix($0) }) else { return false }
        return (try? RepoID(parsing: text)) != nil
    }
}
