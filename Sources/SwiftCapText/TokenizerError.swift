import Foundation

/// Everything that can go wrong while loading a vocabulary or tokenizing; each case names the
/// file (or source) and the problem so a user can act on it.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, reason: String)
    /// The file was read but its content is not what the format requires.
    case malformed(file: String, reason: String)
    /// A gzip stream is damaged or truncated.
    case badGzip(file: String, reason: String)
    /// A merge rule names a symbol (or produces one) that the vocabulary lacks.
    case unknownSymbol(file: String, symbol: String)
    /// A token id outside the vocabulary was given to `decode`.
    case unknownID(Int)
    /// A tokenizer.json asks for a component this implementation does not provide.
    case unsupported(file: String, feature: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read (\(reason))"
        case let .malformed(file, reason): return "\(file): malformed vocabulary (\(reason))"
        case let .badGzip(file, reason): return "\(file): bad gzip data (\(reason))"
        case let .unknownSymbol(file, symbol): return "\(file): symbol \(symbol.debugDescription) is not in the vocabulary"
        case let .unknownID(id): return "token id \(id) is not in the vocabulary"
        case let .unsupported(file, feature): return "\(file): unsupported tokenizer feature \(feature)"
        }
    }
}

/// Reads a whole file, turning I/O failures into `TokenizerError.unreadable`.
func readFile(_ url: URL) throws -> Data {
    do {
        return try Data(contentsOf: url)
    } catch {
        throw TokenizerError.unreadable(file: url.path, reason: error.localizedDescription)
    }
}

/// Decodes UTF-8 text strictly (invalid bytes are an error, not U+FFFD).
func utf8Text(_ data: Data, file: String) throws -> String {
    guard let s = String(data: data, encoding: .utf8) else {
        throw TokenizerError.malformed(file: file, reason: "not valid UTF-8")
    }
    return s
}
