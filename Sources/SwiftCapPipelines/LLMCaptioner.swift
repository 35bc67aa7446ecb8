import Foundation
import SwiftCapTensor
import SwiftCapModels

/// A caption decoder that asks a small instruction-tuned language model (SmolLM2-135M-Instruct)
/// to write one caption from the photo's concepts and the captions the retrieval decoder found
/// for similar photos.
public struct LLMCaptioner: Sendable {
    public struct Config: Sendable, Codable, Equatable {
        /// Most new tokens of the reply.
        public var maxNewTokens = 24
        /// How many retrieved captions go into the prompt.
        public var examples = 5
        public var system = "You write short, factual captions for photos."
        /// Last line of the user message.
        public var instruction = "Write one short caption for this photo."
        /// Text the assistant's reply is made to start with (part of the caption), e.g. "A".
        public var replyPrefix = "A"
        public init() {}
    }

    public struct Result: Sendable {
        /// The cleaned caption (the retrieval caption when the model's reply cleans to nothing).
        public var caption: String
        /// The model's reply before cleaning.
        public var raw: String
        public var prompt: String
        /// The retrieval decoder's result the prompt was built from.
        public var retrieval: RetrievalCaptioner.Result
    }

    public let chat: LlamaChat
    public let retrieval: RetrievalCaptioner
    public var config: Config

    public init(chat: LlamaChat, retrieval: RetrievalCaptioner, config: Config = Config()) {
        self.chat = chat
        self.retrieval = retrieval
        self.config = config
    }

    /// The user message: concepts (strongest first) and numbered retrieved captions.
    public static func prompt(concepts: [String], retrieved: [String], config: Config) -> String {
        var lines: [String] = []
        if !concepts.isEmpty { lines.append("Objects seen: \(concepts.joined(separator: ", ")).") }
        let examples = retrieved.prefix(config.examples)
        if !examples.isEmpty {
            lines.append("Similar photos were described as:")
            for (i, c) in examples.enumerated() { lines.append("\(i + 1). \(c)") }
        }
        lines.append(config.instruction)
        return lines.joined(separator: "\n")
    }

    public func caption(evidence: [ConceptEvidence], device: Device) throws -> Result {
        let r = retrieval.caption(evidence: evidence)
        let concepts = r.query.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
        let user = LLMCaptioner.prompt(concepts: concepts, retrieved: r.retrieved, config: config)
        let raw = try chat.reply(system: config.system, user: user, replyPrefix: config.replyPrefix,
                                 maxNewTokens: config.maxNewTokens, device: device)
        let cleaned = LLMCaptioner.clean(raw)
        return Result(caption: cleaned.isEmpty ? r.caption : cleaned, raw: raw, prompt: user, retrieval: r)
    }

    /// One sentence from a reply: first non-empty line, without a "Caption:" label, list number
    /// or quotes, cut after the first sentence end, ending with a period.
    public static func clean(_ reply: String) -> String {
        guard var s = reply.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { !$0.isEmpty }) else { return "" }
        for label in ["caption:", "photo caption:", "short caption:"] where s.lowercased().hasPrefix(label) {
            s = String(s.dropFirst(label.count)).trimmingCharacters(in: .whitespaces)
        }
        if let m = s.range(of: #"^\d+[.)]\s*"#, options: .regularExpression) { s.removeSubrange(m) }
        s = s.trimmingCharacters(in: CharacterSet(charactersIn: "\"'“”*` ").union(.whitespaces))
        if let end = s.firstIndex(where: { ".!?".contains($0) }) { s = String(s[..<end]) }
        s = s.trimmingCharacters(in: CharacterSet(charactersIn: "\"'“”*` ,;:").union(.whitespaces))
        guard !s.isEmpty else { return "" }
        return s.prefix(1).uppercased() + s.dropFirst() + "."
    }
}
