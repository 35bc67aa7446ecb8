import ArgumentParser
import Foundation
import SwiftCap

/// Development command: captions saved concept evidence with the SmolLM2 decoder.
struct LLMCaption: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm-caption",
        abstract: "Caption saved concept evidence with SmolLM2-135M-Instruct prompted by concepts and retrieved captions.")

    @Option(help: "JSON file mapping image name -> [ConceptEvidence].") var evidence: String
    @Option(help: "Datastore file (swiftcap index build).") var datastore: String
    @Option(help: "Write {image: caption} JSON here.") var out: String
    @Option(help: "SmolLM2 GGUF (default: assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf).") var model: String?
    @Option(help: "Most new tokens per caption.") var maxTokens = 24
    @Option(help: "System message (default: LLMCaptioner.Config's).") var system: String?
    @Option(help: "Last line of the user message (default: LLMCaptioner.Config's).") var instruction: String?
    @Option(help: "Text the reply is made to start with (default: LLMCaptioner.Config's, A).") var replyPrefix: String?
    @Flag(help: "Print each prompt and raw reply.") var verbose = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let device = compute.device
        let modelURL = model.map { URL(fileURLWithPath: $0) }
            ?? AssetPaths.fromEnvironment().asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let t0 = Date()
        let chat = try LlamaChat(url: modelURL)
        let store = try Datastore(contentsOf: URL(fileURLWithPath: datastore))
        var cfg = LLMCaptioner.Config()
        cfg.maxNewTokens = maxTokens
        if let system { cfg.system = system }
        if let instruction { cfg.instruction = instruction }
        if let replyPrefix { cfg.replyPrefix = replyPrefix }
        let captioner = LLMCaptioner(chat: chat, retrieval: RetrievalCaptioner(datastore: store), config: cfg)
        let all = try JSONDecoder().decode([String: [ConceptEvidence]].self, from: Data(contentsOf: URL(fileURLWithPath: evidence)))
        let loaded = Date()
        var result: [String: String] = [:]
        var times: [Double] = []
        for (name, ev) in all.sorted(by: { $0.key < $1.key }) {
            let t = Date()
            let r = try captioner.caption(evidence: ev, device: device)
            times.append(Date().timeIntervalSince(t))
            result[name] = r.caption
            if verbose { print("--- \(name)\n\(r.prompt)\n>>> \(r.raw)") }
            print("\(name): \(r.caption)")
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(result).write(to: URL(fileURLWithPath: out))
        let sorted = times.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        print(String(format: "load %.2f s; %d images, per image mean %.3f s, median %.3f s",
                     loaded.timeIntervalSince(t0), times.count, times.reduce(0, +) / Double(max(times.count, 1)), median))
    }
}
