import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapText

/// A chat model in one GGUF file: the Llama decoder, its byte-level BPE vocabulary and its ChatML
/// chat template (SmolLM2-Instruct: `<|im_start|>role\ncontent<|im_end|>\n` per message, then
/// `<|im_start|>assistant\n` to ask for a reply).
public struct LlamaChat: Sendable {
    public let model: Llama
    public let tokenizer: GPT2Tokenizer
    /// `tokenizer.chat_template` as stored in the file.
    public let chatTemplate: String
    /// Id of `<|im_end|>`, where a reply stops.
    public let endOfTurn: Int

    /// Loads the model and tokenizer from a GGUF file. Throws when the file has no ChatML template.
    public init(url: URL) throws {
        let g = try GGUFFile(url: url)
        let vocab = try GGUFVocabulary(source: url.path, string: { g.value($0)?.stringValue },
                                       strings: { g.value($0)?.arrayValue?.compactMap(\.stringValue) },
                                       ints: { g.value($0)?.arrayValue?.compactMap(\.intValue) })
        tokenizer = try GPT2Tokenizer(gguf: vocab, source: url.path)
        guard let template = g.value("tokenizer.chat_template")?.stringValue,
              template.contains("<|im_start|>"), template.contains("<|im_end|>") else {
            throw LlamaError.config(file: url.path, "no ChatML tokenizer.chat_template (<|im_start|> … <|im_end|>)")
        }
        chatTemplate = template
        guard let end = vocab.tokens.firstIndex(of: "<|im_end|>"), vocab.tokens.contains("<|im_start|>") else {
            throw LlamaError.config(file: url.path, "vocabulary lacks <|im_start|> / <|im_end|>")
        }
        endOfTurn = end
        model = try Llama(gguf: g)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw LlamaError.config(file: url.path, "tokenizer has \(tokenizer.vocabularySize) tokens, model vocabulary \(model.config.vocabSize)")
        }
    }

    /// The ChatML text of a system and a user message followed by the assistant's turn opening.
    public static func chatML(system: String, user: String) -> String {
        "<|im_start|>system\n\(system)<|im_end|>\n<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
    }

    /// Greedy reply to one user message (stops at `<|im_end|>` or after `maxNewTokens`). The reply
    /// is made to start with `replyPrefix`, which is returned as part of it.
    public func reply(system: String, user: String, replyPrefix: String = "", maxNewTokens: Int, device: Device) throws -> String {
        let ids = tokenizer.encode(LlamaChat.chatML(system: system, user: user) + replyPrefix)
        return try replyPrefix + complete(ids: ids, maxNewTokens: maxNewTokens, device: device)
    }

    /// Greedy continuation of raw prompt ids, decoded without special tokens.
    public func complete(ids: [Int], maxNewTokens: Int, device: Device) throws -> String {
        let out = try model.generate(ids: [ids], config: GenerationConfig(maxNewTokens: maxNewTokens, stopTokens: [endOfTurn]),
                                     device: device)
        return try tokenizer.decode(out[0].filter { $0 != endOfTurn })
    }
}
