import Foundation
import SwiftCapTensor
import SwiftCapModels
import SwiftCapPipelines

/// How training sequences are made from the caption datastore.
public struct DataConfig: Codable, Sendable, Equatable {
    /// Retrieved captions in each prompt.
    public var retrieved = 3
    /// Words kept of each retrieved caption.
    public var retrievedWords = 20
    /// Training captions longer than this are skipped.
    public var captionWords = 20
    public var maxConcepts = 12
    /// Retrieved captions are sampled from this many best hits of other images.
    public var poolTake = 30
    /// Probability of dropping a true detector-class concept / a true scene or object word.
    public var dropDetectorClass: Float = 0.25
    public var dropOther: Float = 0.5
    /// Probability of adding a plausible false concept (tried twice, so 0, 1 or 2 are added).
    public var addFalse: Float = 0.35
    /// Share of false concepts drawn uniformly from the detector classes instead of by co-occurrence.
    public var uniformFalse: Float = 0.2
    /// Vocabulary: the most frequent caption words with at least `minWordCount` occurrences.
    public var maxWords = 6000
    public var minWordCount = 5

    public init() {}
}

/// The caption datastore prepared for training: word counts, per-caption concept mentions, captions
/// grouped by image, and concept -> captions lists for sampling co-occurring false concepts.
public struct TrainingCorpus: @unchecked Sendable {
    public let store: Datastore
    public let vocabulary: ConceptVocabulary
    /// Per caption: range into `mentionConcept` / `mentionBin`.
    let mentionStart: [Int32]
    let mentionConcept: [Int16]
    let mentionBin: [Int8]
    /// Image id -> caption indices.
    let byImage: [Int: [Int32]]
    /// Concept index -> captions mentioning it.
    let byConcept: [[Int32]]
    let detectorClasses: [Int]

    /// Reads every caption of `store` and maps it to concepts (threaded).
    public init(store: Datastore, vocabulary: ConceptVocabulary = .standard, device: Device) throws {
        let n = store.captionCount
        guard n > 0 else { throw TrainingError.data("datastore \(store.source) has no captions") }
        self.store = store
        self.vocabulary = vocabulary
        var perCaption = [[(Int, Int)]](repeating: [], count: n)
        perCaption.withUnsafeMutableBufferPointer { out in
            let out = out
            device.parallelFor(n, costPerItem: 100_000) { s, e in
                for i in s..<e { out[i] = vocabulary.mentions(in: ConceptVocabulary.tokenize(store.caption(i))).map { ($0.concept, $0.countBin) } }
            }
        }
        var starts: [Int32] = [0], concepts: [Int16] = [], bins: [Int8] = []
        var byConcept = [[Int32]](repeating: [], count: vocabulary.concepts.count)
        var byImage: [Int: [Int32]] = [:]
        for i in 0..<n {
            for (c, b) in perCaption[i] {
                concepts.append(Int16(c)); bins.append(Int8(b))
                byConcept[c].append(Int32(i))
            }
            starts.append(Int32(concepts.count))
            byImage[store.imageID(i), default: []].append(Int32(i))
        }
        mentionStart = starts; mentionConcept = concepts; mentionBin = bins
        self.byImage = byImage
        self.byConcept = byConcept
        detectorClasses = vocabulary.concepts.indices.filter { vocabulary.concepts[$0].isDetectorClass }
    }

    public var captionCount: Int { store.captionCount }

    func mentions(_ i: Int) -> [(Int, Int)] {
        (Int(mentionStart[i])..<Int(mentionStart[i + 1])).map { (Int(mentionConcept[$0]), Int(mentionBin[$0])) }
    }

    /// The decoder vocabulary: special tokens, one token per concept, then caption words by frequency.
    public func buildVocabulary(maxWords: Int, minCount: Int, device: Device) -> [String] {
        var counts: [String: Int] = [:]
        for i in 0..<store.captionCount {
            for w in ConceptVocabulary.tokenize(store.caption(i)) { counts[String(w), default: 0] += 1 }
        }
        let words = counts.filter { $0.value >= minCount }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(maxWords).map(\.key)
        return ConceptDecoder.specialTokens + vocabulary.concepts.map { ConceptDecoder.conceptToken($0.name) } + words
    }

    /// The concepts of an image as training input: the union over its captions (largest count bin),
    /// with true ones dropped and plausible false ones added.
    func noisyConcepts(image: Int, config: DataConfig, rng: inout SplitMix64) -> [(name: String, count: Int)] {
        var truth: [Int: Int] = [:]
        for c in byImage[image] ?? [] {
            for (k, b) in mentions(Int(c)) { truth[k] = max(truth[k] ?? 0, b) }
        }
        var out: [Int: Int] = [:]
        // Sorted iteration: dictionary order differs between instances, and a resumed run must
        // draw the same noise.
        for k in truth.keys.sorted() {
            let b = truth[k] ?? 1
            let p = vocabulary.concepts[k].isDetectorClass ? config.dropDetectorClass : config.dropOther
            if rng.nextFloat() >= p { out[k] = b }
        }
        let trueKeys = truth.keys.sorted()
        for _ in 0..<2 where rng.nextFloat() < config.addFalse {
            var added: Int?
            if rng.nextFloat() >= config.uniformFalse, !trueKeys.isEmpty {
                // Co-occurrence: a concept mentioned by a caption that shares one of the true concepts.
                let c = trueKeys[Int(rng.next() % UInt64(trueKeys.count))]
                let list = byConcept[c]
                if !list.isEmpty {
                    let j = Int(list[Int(rng.next() % UInt64(list.count))])
                    let others = mentions(j).map(\.0).filter { truth[$0] == nil }
                    if !others.isEmpty { added = others[Int(rng.next() % UInt64(others.count))] }
                }
            }
            if added == nil, !detectorClasses.isEmpty {
                let k = detectorClasses[Int(rng.next() % UInt64(detectorClasses.count))]
                if truth[k] == nil { added = k }
            }
            if let k = added { out[k] = 1 + Int(rng.next() % 2 == 0 ? 0 : (rng.next() % 3 == 0 ? 1 : 0)) }
        }
        return out.keys.sorted().map { (vocabulary.concepts[$0].name, out[$0] ?? 1) }
    }

    /// One training sequence for caption `index`: prompt ids and the index where the loss starts
    /// (the `<bos>` position). Nil when the caption is too long or the sequence does not fit.
    public func example(caption index: Int, encoder: PromptEncoder, config: DataConfig, positions: Int,
                        rng: inout SplitMix64) -> (ids: [Int], lossFrom: Int)? {
        let text = store.caption(index)
        let words = ConceptVocabulary.tokenize(text)
        guard words.count >= 3, words.count <= config.captionWords else { return nil }
        let image = store.imageID(index)
        let concepts = noisyConcepts(image: image, config: config, rng: &rng)
        var q = Datastore.Query()
        for c in concepts { q.concepts[c.name] = (1, c.count) }
        // Retrieved captions never come from the same image.
        let hits = store.search(q, minimum: 20, maximum: config.poolTake + 10, tolerance: 0.02)
        var pool = hits.map(\.caption).filter { store.imageID($0) != image }
        if pool.count > config.poolTake { pool.removeLast(pool.count - config.poolTake) }
        var chosen: [String] = []
        while chosen.count < config.retrieved && !pool.isEmpty {
            let j = Int(rng.next() % UInt64(pool.count))
            chosen.append(store.caption(pool[j]))
            pool.remove(at: j)
        }
        let conceptIDs = encoder.concepts(concepts, order: PromptEncoder.standardOrder, maxConcepts: config.maxConcepts)
        let prompt = encoder.prompt(concepts: conceptIDs, retrieved: chosen, maxWords: config.retrievedWords)
        let ids = prompt + encoder.words(text, maxWords: config.captionWords) + [ConceptDecoder.eos]
        guard ids.count <= positions else { return nil }
        return (ids, prompt.count - 1)
    }

    /// A batch of `size` sequences for `step`, deterministic in (seed, step) so a resumed run sees the
    /// same data; captions are drawn uniformly. Threaded over sequences.
    public func batch(step: Int, size: Int, seed: UInt64, encoder: PromptEncoder, config: DataConfig,
                      positions: Int, device: Device) -> PackedBatch {
        var seqs = [(ids: [Int], lossFrom: Int)?](repeating: nil, count: size)
        let n = store.captionCount
        seqs.withUnsafeMutableBufferPointer { out in
            let out = out
            device.parallelFor(size, costPerItem: 1_000_000) { s, e in
                for k in s..<e {
                    var rng = SplitMix64(seed: seed &+ UInt64(step) &* 0x9E37_79B9 &+ UInt64(k) &* 0x85EB_CA6B)
                    var made: (ids: [Int], lossFrom: Int)?
                    var tries = 0
                    while made == nil && tries < 20 {
                        let i = Int(rng.next() % UInt64(n))
                        made = example(caption: i, encoder: encoder, config: config, positions: positions, rng: &rng)
                        tries += 1
                    }
                    out[k] = made
                }
            }
        }
        var b = PackedBatch()
        for s in seqs { if let s { b.append(s.ids, lossFrom: s.lossFrom) } }
        return b
    }
}
