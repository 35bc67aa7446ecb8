import Foundation

/// What a captioning model returns for one image.
public struct CaptionResult: Sendable {
    public var caption: String
    /// Detected concepts / tags that conditioned the caption, if the model has any.
    public var concepts: [String]
    /// Seconds per stage (e.g. "detect", "encode", "decode"), if the model reports them.
    public var timings: [String: Double]

    public init(caption: String, concepts: [String] = [], timings: [String: Double] = [:]) {
        self.caption = caption
        self.concepts = concepts
        self.timings = timings
    }
}

/// A model that captions image files; `swiftcap eval --images DIR` runs one over a folder.
/// The default captioner of SwiftCapPipelines conforms to this.
public protocol Captioner {
    /// A short name for reports (architecture and weights).
    var name: String { get }
    func caption(imageAt url: URL) throws -> CaptionResult
}
