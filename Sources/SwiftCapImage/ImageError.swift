import Foundation

/// Errors raised while reading, decoding, writing or preprocessing images. Every case names the
/// file (or the in-memory source name given by the caller) and the problem.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read (missing, permission, I/O error).
    case unreadable(file: String, reason: String)
    /// The file has zero bytes.
    case empty(file: String)
    /// Not a JPEG or PNG; `detected` names the format when its signature is known ("GIF", "WebP", ...).
    case unsupportedFormat(file: String, detected: String)
    /// The data ends before the image is complete.
    case truncated(file: String, reason: String)
    /// The decoder rejected the data.
    case corrupt(file: String, reason: String)
    /// The header claims more pixels than the configured limit (checked before allocating).
    case tooLarge(file: String, width: Int, height: Int, limit: Int)
    /// A safety limit other than size was hit (e.g. a JPEG with thousands of scans).
    case limitExceeded(file: String, reason: String)
    /// Memory for the pixels could not be allocated.
    case outOfMemory(file: String)
    /// The file could not be written.
    case unwritable(file: String, reason: String)
    /// A caller passed impossible arguments (sizes, buffer lengths).
    case invalidArgument(op: String, String)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .empty(let f): return "\(f): empty file (0 bytes)"
        case .unsupportedFormat(let f, let d): return "\(f): unsupported image format (\(d)); JPEG and PNG are supported"
        case .truncated(let f, let r): return "\(f): truncated image data: \(r)"
        case .corrupt(let f, let r): return "\(f): corrupt image data: \(r)"
        case .tooLarge(let f, let w, let h, let l): return "\(f): image is \(w)x\(h) = \(w * h) pixels, above the limit of \(l)"
        case .limitExceeded(let f, let r): return "\(f): safety limit exceeded: \(r)"
        case .outOfMemory(let f): return "\(f): out of memory while decoding"
        case .unwritable(let f, let r): return "\(f): cannot write: \(r)"
        case .invalidArgument(let op, let d): return "\(op): invalid argument: \(d)"
        }
    }
}
