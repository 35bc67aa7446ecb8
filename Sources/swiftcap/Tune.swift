import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap tune`: chooses the concept-retrieval settings by cross-validation on the training photos,
/// never looking at coco-dev. Every training photo gets word probabilities from a head trained on the
/// other folds; a spread sample of them is captioned with each candidate setting, the photo's own
/// captions (and itself, for the neighbour vote) left out of the datastore, and scored against those
/// captions with CIDEr-D and a paired bootstrap against the first setting.
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Choose concept-retrieval settings by cross-validation on the training photos (configs/concepts.json).")

    @Option(help: "Concept-head training config.") var config = "configs/concepts.json"
    @Option(help: "JSON array of concept-retrieval settings to compare (the first is the reference).")
    var grid = "configs/concept-retrieval-grid.json"
    @Option(help: "Cross-validation folds.") var folds = 5
    @Option(help: "Training photos captioned per setting (spread evenly).") var photos = 600
    @Option(help: "Datastore (default: the standard one in the assets folder).") var datastore: String?
    @Option(help: "Write {setting index: [per-photo CIDEr-D]} JSON here.") var out: String?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
        guard photos >= 10 else { throw ValidationError("--photos must be at least 10") }
    }

    func run() throws {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        let cfg: ConceptHeadConfig
        let settings: [ConceptRetrievalCaptioner.Config]
        do {
            cfg = try JSONDecoder().decode(ConceptHeadConfig.self, from: Data(contentsOf: URL(fileURLWithPath: config)))
            settings = try JSONDecoder().decode([ConceptRetrievalCaptioner.Config].self, from: Data(contentsOf: URL(fileURLWithPath: grid)))
        } catch { throw ValidationError("cannot read \(config) / \(grid): \(error)") }
        guard !settings.isEmpty else { throw ValidationError("\(grid) holds no settings") }
        let device = compute.device
        let trainer = ConceptHeadTrainer(config: cfg, paths: paths, device: device, log: { printError($0) }, progress: phasedProgress())
        let set = try trainer.trainingSet()
        let oof = try trainer.outOfFoldProbabilities(set, folds: folds)
        let storeURL = datastore.map { URL(fileURLWithPath: $0) } ?? DefaultCaptioner.defaultDatastoreURL(paths: paths)
        let store = try Datastore(contentsOf: storeURL)
        var captioner = ConceptRetrievalCaptioner(datastore: store, vocabulary: set.vocabulary)
        // Built only when some setting lets neighbour photos vote.
        let neighbours = settings.contains(where: { $0.neighbours > 0 })
            ? NeighbourCaptioner(neighbours: try PhotoNeighbours(pooled: set.pooled, imageIDs: set.imageIDs), datastore: store) : nil
        let V = set.vocabulary.count, P = PhotoFeatures.pooledDimension
        let rows = (0..<min(photos, set.count)).map { $0 * set.count / min(photos, set.count) }
        let own = store.captionIndices(ofImages: Set(rows.map { set.imageIDs[$0] }))
        let evaluator = CaptionEvaluator(device: device, meteor: nil, meteorUnavailable: "not used")
        var perPhoto: [[Double]] = []
        print("cross-validated on \(rows.count) training photos (\(folds) folds, own captions left out); CIDEr-D against their 5 captions")
        print("setting  CIDEr-D  Δ vs 0   95% CI of Δ          settings")
        for (k, s) in settings.enumerated() {
            captioner.config = s
            var candidates: [String] = []
            for i in rows {
                let id = set.imageIDs[i]
                var votes: [String] = []
                if s.neighbours > 0, let neighbours {
                    votes = try neighbours.pool(Array(set.pooled[i * P ..< (i + 1) * P]), k: s.neighbours, device: device,
                                                excludingImageID: id).map(\.caption)
                }
                candidates.append(captioner.caption(probabilities: Array(oof[i * V ..< (i + 1) * V]), neighbourCaptions: votes,
                                                    excluding: own[id] ?? [], device: device).caption)
            }
            let r = try evaluator.evaluate(candidates: candidates, references: rows.map { set.captions[$0] })
            perPhoto.append(r.perImage.map(\.ciderD))
            let c = try PairedBootstrap().compare(perPhoto[k], perPhoto[0])
            let json = String(decoding: try JSONEncoder().encode(s), as: UTF8.self)
            print(String(format: "%7d  %7.4f  %+7.4f  [%+.4f, %+.4f]  %@", k, c.a.estimate, c.difference.estimate,
                         c.difference.interval.lower, c.difference.interval.upper, json))
        }
        if let out {
            try JSONEncoder().encode(Dictionary(uniqueKeysWithValues: perPhoto.enumerated().map { (String($0.offset), $0.element) }))
                .write(to: URL(fileURLWithPath: out))
        }
    }
}
