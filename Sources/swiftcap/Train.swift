import ArgumentParser
import Foundation
import SwiftCap

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model from a config: the concept head (configs/concepts.json) or the concept decoder (configs/decoder.json).",
        discussion: """
        A config with "task": "concepts" trains the concept head (visual concept extractor) on the coco-train photos: \
        features are cached to safetensors on the first run, then every run takes a few minutes; it writes the f16 \
        model, loss.png and report.md (per-word AP on coco-dev). Any other config trains the generative concept decoder \
        text-only, resuming from the output folder's checkpoint.
        """)

    @Option(help: "Training config JSON (e.g. configs/decoder.json).") var config: String
    @Flag(help: "Decoder: ignore an existing checkpoint. Concept head: recompute the cached photo features.") var fresh = false
    @Option(help: "Override the config's step count.") var steps: Int?
    @Option(help: "Override the config's time limit in minutes (0 = none).") var maxMinutes: Double?
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let url = URL(fileURLWithPath: config)
        if let data = try? Data(contentsOf: url), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           object["task"] as? String == "concepts" {
            return try trainConceptHead(data, file: url)
        }
        var cfg = try TrainingConfig.load(url)
        if let steps { cfg.steps = steps }
        if let maxMinutes { cfg.maxMinutes = maxMinutes }
        let trainer = Trainer(config: cfg, device: compute.device, log: { printError($0) })
        let summary = try trainer.run(fresh: fresh)
        print(summary.modelFile.path)
    }

    func trainConceptHead(_ data: Data, file: URL) throws {
        var cfg: ConceptHeadConfig
        do { cfg = try JSONDecoder().decode(ConceptHeadConfig.self, from: data) } catch {
            throw ValidationError("\(file.path): not a valid concept-head config: \(error)")
        }
        if steps != nil { throw ValidationError("--steps applies to the decoder; the concept head trains for the config's epochs") }
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        if fresh {
            // --fresh recomputes the cached photo features (they are otherwise reused while the photos are the same).
            for f in [cfg.trainFeatures, cfg.devFeatures].compactMap({ $0 }) {
                try? FileManager.default.removeItem(at: ConceptHeadConfig.resolve(f, paths: paths))
            }
        }
        let trainer = ConceptHeadTrainer(config: cfg, paths: paths, device: compute.device, log: { printError($0) },
                                         progress: phasedProgress())
        let summary = try trainer.run()
        if let r = summary.report {
            let s = r.summary
            printError(String(format: "coco-dev per-word AP: learned %.3f over %d words; on the %d words the detector/classifier name: learned %.3f vs %.3f",
                              s.learnedAll, s.allWords, s.covered, s.learnedCovered, s.baselineCovered))
        }
        printError(String(format: "trained in %.0f s", summary.seconds))
        print(summary.modelFile.path)
    }
}

struct DecodeEvidence: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode-evidence",
        abstract: "Caption concept evidence files ({image: [ConceptEvidence]} JSON) with the retrieval or generative decoder.")

    @Option(help: "Datastore file.") var datastore: String
    @Option(help: "JSON file mapping image name -> [ConceptEvidence].") var evidence: String
    @Option(help: "Decoder: retrieval or generative.") var decoder: String = "generative"
    @Option(help: "Concept decoder weights (decoder.safetensors) for --decoder generative.") var model: String?
    @Option(help: "GenerativeCaptioner settings JSON (any subset of its fields).") var settings: String?
    @Option(help: "Retrieval settings JSON (any subset of RetrievalCaptioner.Config's fields).") var retrievalConfig: String?
    @Option(help: "Write {image: caption} JSON here.") var out: String?
    @Flag(help: "Print the beam candidates with their scores.") var verbose = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let store = try Datastore(contentsOf: URL(fileURLWithPath: datastore))
        let all = try JSONDecoder().decode([String: [ConceptEvidence]].self, from: Data(contentsOf: URL(fileURLWithPath: evidence)))
        var retrieval = RetrievalCaptioner(datastore: store)
        if let retrievalConfig {
            retrieval.config = try JSONDecoder().decode(RetrievalCaptioner.Config.self, from: Data(contentsOf: URL(fileURLWithPath: retrievalConfig)))
        }
        var generative: GenerativeCaptioner?
        switch decoder {
        case "retrieval": break
        case "generative":
            guard let model else { throw ValidationError("--decoder generative needs --model") }
            var g = GenerativeCaptioner(decoder: try ConceptDecoder(url: URL(fileURLWithPath: model)), retrieval: retrieval)
            if let settings {
                g.config = try JSONDecoder().decode(GenerativeCaptioner.Config.self, from: Data(contentsOf: URL(fileURLWithPath: settings)))
            }
            generative = g
        default: throw ValidationError("--decoder must be retrieval or generative, got \(decoder)")
        }
        let device = compute.device
        var result: [String: String] = [:]
        let t0 = Date()
        for (name, ev) in all.sorted(by: { $0.key < $1.key }) {
            if let g = generative {
                let r = try g.caption(evidence: ev, device: device)
                result[name] = r.caption
                print("\(name): \(r.caption)")
                if verbose {
                    for c in r.candidates { print(String(format: "    %.3f %.3f  %@", c.consensus, c.logProb, c.caption)) }
                    for c in r.retrieved { print("    retrieved: \(c)") }
                }
            } else {
                result[name] = retrieval.caption(evidence: ev).caption
                print("\(name): \(result[name]!)")
            }
        }
        printError(String(format: "%d images in %.2f s", all.count, Date().timeIntervalSince(t0)))
        if let out {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(result).write(to: URL(fileURLWithPath: out))
        }
    }
}
