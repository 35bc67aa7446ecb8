import Foundation

/// Everything that can go wrong resolving or downloading a hub repository. Messages name the repository,
/// file, URL path or cache path involved; a token is never part of any message.
public enum HubError: Error, CustomStringConvertible, Equatable {
    /// `ORG/NAME[@REVISION]` could not be parsed.
    case invalidRepoID(String, reason: String)
    /// HTTP 401/403: the repository is private or gated and no (or a wrong) token was sent.
    case unauthorized(repo: String, status: Int, tokenSent: Bool)
    /// HTTP 404 for the repository or revision.
    case repoNotFound(repo: String, revision: String)
    /// HTTP 404 for one file of an existing repository.
    case fileNotFound(repo: String, revision: String, file: String)
    /// HTTP 429; `retryAfter` in seconds when the server said.
    case rateLimited(url: String, retryAfter: Double?)
    /// Any other HTTP error status (5xx included).
    case http(status: Int, url: String)
    /// The connection failed or dropped (mid-body included); `received` bytes of the body had arrived.
    case connection(url: String, received: Int64, reason: String)
    /// The server's answer lacks something the protocol needs (commit header, ETag, JSON field).
    case protocolError(url: String, String)
    /// A downloaded file's sha256 or size is not what the hub announced; the bad bytes were deleted.
    case checksumMismatch(file: String, expected: String, actual: String)
    /// `HF_HUB_OFFLINE=1` (or offline requested) and the cache lacks what was asked.
    case offlineMissing(repo: String, revision: String, missing: String)
    /// A local file operation failed.
    case io(path: String, String)
    /// `--include` matched no file of the repository.
    case noFilesMatched(repo: String, patterns: [String], available: [String])

    public var description: String {
        switch self {
        case let .invalidRepoID(s, reason):
            return "invalid model repository '\(s)': \(reason) (expected ORG/NAME or ORG/NAME@REVISION)"
        case let .unauthorized(repo, status, tokenSent):
            return "\(repo): HTTP \(status) unauthorized — " + (tokenSent
                ? "the token sent was refused (check HF_TOKEN or the token file; access to a gated repository must be granted on the hub)"
                : "the repository is private or gated; set HF_TOKEN or log in so that $HF_HOME/token exists")
        case let .repoNotFound(repo, revision):
            return "\(repo): repository or revision '\(revision)' not found on the hub (HTTP 404)"
        case let .fileNotFound(repo, revision, file):
            return "\(repo)@\(revision): file '\(file)' not found (HTTP 404)"
        case let .rateLimited(url, retryAfter):
            return "rate limited by the hub (HTTP 429) on \(url)" + (retryAfter.map { "; retry after \(Int($0.rounded(.up))) s" } ?? "")
        case let .http(status, url):
            return "HTTP \(status) from \(url)" + (status >= 500 ? " (hub-side error; try again later)" : "")
        case let .connection(url, received, reason):
            return "connection to \(url) failed after \(received) bytes: \(reason) (run the same command again to resume)"
        case let .protocolError(url, what):
            return "unexpected answer from \(url): \(what)"
        case let .checksumMismatch(file, expected, actual):
            return "\(file): checksum mismatch (hub says \(expected), downloaded bytes give \(actual)); the bad download was deleted"
        case let .offlineMissing(repo, revision, missing):
            return "\(repo)@\(revision) is not in the cache and HF_HUB_OFFLINE=1 forbids downloading it: missing \(missing)"
        case let .io(path, what):
            return "\(path): \(what)"
        case let .noFilesMatched(repo, patterns, available):
            return "\(repo): no file matches --include \(patterns.joined(separator: " ")) (files: \(available.prefix(20).joined(separator: ", "))\(available.count > 20 ? ", …" : ""))"
        }
    }
}
