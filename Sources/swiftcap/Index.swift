import ArgumentParser
import Foundation
import SwiftCap

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build or query the caption datastore used by the retrieval decoder.",
        subcommands: [IndexBuild.self, IndexQuery.self])
}

struct IndexBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "Index the Karpathy-train COCO captions by concept.")

    @Option(help: "Folder with captions_train2014.json and captions_val2014.json (default: assets/coco-captions).")
    var captions: String?
    @Option(help: "Folder with karpathy_val_images.txt and karpathy_test_images.txt (default: <shared>/data/karpathy).")
    var karpathy: String?
    @Option(help: "Output datastore file.") var out: String
    @Option(help: ArgumentHelp("Keep only this fraction of the training images (every image whose position in id order falls in "
                               + "the first F of each block of 1000; for datastore-size studies).", valueName: "F"))
    var fraction: Double = 1

    func validate() throws {
        guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    }

    func run() throws {
        let paths = AssetPaths.fromEnvironment()
        let captionsDir = captions.map { URL(fileURLWithPath: $0) } ?? paths.asset("coco-captions")
        let karpathyDir = karpathy.map { URL(fileURLWithPath: $0) } ?? paths.sharedFile("data/karpathy")
        let t0 = Date()
        var corpus = try CaptionCorpus.karpathyTrain(captionsDirectory: captionsDir, karpathyDirectory: karpathyDir)
        if fraction < 1 {
            // Whole images (all their captions) in or out, spread evenly over the id range.
            let ids = Array(Set(corpus.captions.map(\.imageID))).sorted()
            let keep = Set(ids.enumerated().filter { Double($0.offset % 1000) < fraction * 1000 }.map(\.element))
            corpus = CaptionCorpus(captions: corpus.captions.filter { keep.contains($0.imageID) })
        }
        let t1 = Date()
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: URL(fileURLWithPath: out))
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print(String(format: "indexed %d captions in %.1f s (read %.1f s); %@ (%.1f MB)",
                     corpus.captions.count, Date().timeIntervalSince(t0), t1.timeIntervalSince(t0), out, Double(size) / 1e6))
    }
}

struct IndexQuery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Caption from concepts given on the command line, e.g. dog:0.9 frisbee:0.8:1.")

    @Option(help: "Datastore file.") var datastore: String
    @Argument(help: "Concepts as name:score[:area][:count]; multi-word names with '_' (dining_table).")
    var concepts: [String] = []
    @Option(help: "JSON file mapping image name -> [ConceptEvidence]; captions every entry.")
    var evidence: String?
    @Option(help: "With --evidence: write {image: caption} JSON here.")
    var out: String?
    @Option(help: "Retrieval decoder settings (JSON, every field of RetrievalCaptioner.Config).")
    var config: String?

    func run() throws {
        let store = try Datastore(contentsOf: URL(fileURLWithPath: datastore))
        if let evidence {
            let data = try Data(contentsOf: URL(fileURLWithPath: evidence))
            let all = try JSONDecoder().decode([String: [ConceptEvidence]].self, from: data)
            var cfg = RetrievalCaptioner.Config()
            if let config { cfg = try JSONDecoder().decode(RetrievalCaptioner.Config.self, from: Data(contentsOf: URL(fileURLWithPath: config))) }
            let captioner = RetrievalCaptioner(datastore: store, config: cfg)
            var result: [String: String] = [:]
            for (name, ev) in all.sorted(by: { $0.key < $1.key }) {
                result[name] = captioner.caption(evidence: ev).caption
                print("\(name): \(result[name]!)")
            }
            if let out {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try enc.encode(result).write(to: URL(fileURLWithPath: out))
            }
            return
        }
        var evidence: [ConceptEvidence] = []
        for c in concepts {
            let parts = c.split(separator: ":")
            guard parts.count >= 2, let s = Float(parts[1]) else {
                throw ValidationError("concept '\(c)' is not name:score[:area][:count]")
            }
            let area = parts.count > 2 ? Float(parts[2]) ?? 0.2 : 0.2
            let count = parts.count > 3 ? Int(parts[3]) ?? 1 : 1
            for _ in 0..<max(1, count) {
                evidence.append(ConceptEvidence(name: parts[0].replacingOccurrences(of: "_", with: " "), score: s, area: area))
            }
        }
        let r = RetrievalCaptioner(datastore: store).caption(evidence: evidence)
        print(r.caption)
        for alt in r.retrieved.dropFirst() { print("  also: \(alt)") }
    }
}
