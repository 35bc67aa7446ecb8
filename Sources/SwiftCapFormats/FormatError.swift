import Foundation

/// Errors reading or writing a checkpoint file. Every case names the file and the problem.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, stat'ed or mapped.
    case cannotOpen(file: String, reason: String)
    /// The file ends before a structure it announces.
    case truncated(file: String, detail: String)
    /// A structure is present but invalid (bad magic, bad length, inconsistent offsets, bad JSON, …).
    case malformed(file: String, detail: String)
    /// Valid for the format but not handled here (an unknown dtype, a pickle class not on the allow-list, …).
    case unsupported(file: String, detail: String)
    /// A problem with one named tensor (its dtype, its extent, its data).
    case badTensor(file: String, name: String, detail: String)
    /// Writing failed.
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let file, let reason): return "\(file): cannot open: \(reason)"
        case .truncated(let file, let detail): return "\(file): truncated: \(detail)"
        case .malformed(let file, let detail): return "\(file): malformed: \(detail)"
        case .unsupported(let file, let detail): return "\(file): unsupported: \(detail)"
        case .badTensor(let file, let name, let detail): return "\(file): tensor '\(name)': \(detail)"
        case .cannotWrite(let file, let reason): return "\(file): cannot write: \(reason)"
        }
    }

    /// The file the error is about.
    public var file: String {
        switch self {
        case .cannotOpen(let f, _), .truncated(let f, _), .malformed(let f, _), .unsupported(let f, _),
             .badTensor(let f, _, _), .cannotWrite(let f, _):
            return f
        }
    }
}

/// Overflow-checked arithmetic for sizes read from files: nil when the result would not fit in `Int`.
enum Checked {
    static func mul(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : r
    }

    static func add(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }

    /// Product of non-negative dimensions; nil on a negative dimension or overflow.
    static func product(_ dims: [Int]) -> Int? {
        var acc = 1
        for d in dims {
            guard d >= 0, let next = mul(acc, d) else { return nil }
            acc = next
        }
        return acc
    }
}
