import Foundation
import XCTest

/// A test input (an asset, ../shared, a fixture row) that is not there. Locally the test is skipped with the
/// message; under CI (the environment variable `CI` is set, as `.ci/run` is run) it fails instead, so a
/// test cannot pass in CI by not running.
public struct MissingTestInput: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = "missing test input under CI: " + message }

    /// True when missing inputs fail rather than skip.
    public static var failsUnderCI: Bool { !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty }
}

/// The error to throw for a missing input: `XCTSkip` locally, `MissingTestInput` under CI.
public func missingInput(_ message: String) -> Error {
    MissingTestInput.failsUnderCI ? MissingTestInput(message) : XCTSkip(message)
}

/// Throws `missingInput(message)` unless `present`.
public func requireInput(_ present: Bool, _ message: String) throws {
    if !present { throw missingInput(message) }
}
