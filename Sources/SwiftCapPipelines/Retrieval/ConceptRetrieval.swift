import Foundation
import SwiftCapModels
import SwiftCapTensor

/// Every datastore caption as the concept-head words it uses, so all 566k captions can be scored against
/// one photo's word probabilities in a few milliseconds. Built once per (datastore, vocabulary).
///
/// Layout (CSR): caption c uses the distinct vocabulary ids `words[start[c] ..< start[c + 1]]`;
/// `lengths[c]` is its word count (all words, saturating at 255).
public struct CaptionWordIndex: Sendable {
    public let vocabularySize: Int
    let start: [UInt32]
    let words: [UInt16]
    let lengths: [UInt8]
    /// Vocabulary id by `WordHash` of the word.
    let idOfWord: [UInt64: UInt16]
    public var captionCount: Int { lengths.count }

    /// Word hashes of a caption (ASCII fast path, else `tokenize`).
    static func wordHashes(_ bytes: UnsafeRawBufferPointer) -> [UInt64] {
        WordHash.asciiWords(bytes) ?? ConceptVocabulary.tokenize(String(decoding: bytes, as: UTF8.self)).map { WordHash.hash($0) }
    }

    /// The distinct vocabulary ids `caption` uses, in order of first use.
    public func vocabularyIDs(_ caption: String) -> [Int] {
        var s = caption
        return s.withUTF8 { Self.distinctIDs(Self.wordHashes(UnsafeRawBufferPointer($0)), idOfWord).map(Int.init) }
    }

    /// The distinct vocabulary ids of `hashes`, in order of first use.
    static func distinctIDs(_ hashes: [UInt64], _ idOfWord: [UInt64: UInt16]) -> [UInt16] {
        var seen: [UInt16] = []
        for h in hashes { if let id = idOfWord[h], !seen.contains(id) { seen.append(id) } }
        return seen
    }

    public init(datastore: Datastore, vocabulary: [String]) {
        precondition(vocabulary.count < Int(UInt16.max), "vocabulary too large for 16-bit ids")
        vocabularySize = vocabulary.count
        var ids: [UInt64: UInt16] = [:]
        for (i, w) in vocabulary.enumerated() { ids[WordHash.hash(w)] = UInt16(i) }
        idOfWord = ids
        var start: [UInt32] = [0], words: [UInt16] = [], lengths: [UInt8] = []
        start.reserveCapacity(datastore.captionCount + 1)
        lengths.reserveCapacity(datastore.captionCount)
        words.reserveCapacity(datastore.captionCount * 5)
        datastore.forEachCaptionBytes { _, bytes in
            let hashes = Self.wordHashes(bytes)
            words += Self.distinctIDs(hashes, ids)
            start.append(UInt32(words.count))
            lengths.append(UInt8(min(255, hashes.count)))
        }
        self.start = start; self.words = words; self.lengths = lengths
    }

    /// Σ over the vocabulary words a caption uses of `weights[word]`, for every caption; captions with fewer
    /// than `minWords` words get -∞. Split over `device`'s threads.
    public func scores(_ weights: [Float], minWords: Int, device: Device = Device(threads: 1)) -> [Float] {
        precondition(weights.count == vocabularySize)
        var out = [Float](repeating: -.infinity, count: captionCount)
        out.withUnsafeMutableBufferPointer { O in
            start.withUnsafeBufferPointer { S in
                words.withUnsafeBufferPointer { W in
                    lengths.withUnsafeBufferPointer { N in
                        weights.withUnsafeBufferPointer { L in
                            let (O, S, W, N, L) = (O.baseAddress!, S.baseAddress!, W.baseAddress!, N.baseAddress!, L.baseAddress!)
                            device.parallelFor(captionCount, costPerItem: 8) { a, b in
                                for c in a..<b where Int(N[c]) >= minWords {
                                    var s: Float = 0
                                    for p in Int(S[c])..<Int(S[c + 1]) { s += L[Int(W[p])] }
                                    O[c] = s
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Indices of the `k` largest finite values, largest first (ties: lower index first).
    public static func top(_ values: [Float], _ k: Int) -> [Int] {
        guard k > 0, !values.isEmpty else { return [] }
        // The k-th largest value by quickselect on a copy (-∞ sorts last), then one pass for the indices at or above it.
        var v = values
        let target = min(k, v.count) - 1
        var lo = 0, hi = v.count - 1
        var rng = SplitMix64(seed: 0x70b)
        v.withUnsafeMutableBufferPointer { v in
            while lo < hi {
                let pivot = v[lo + Int(rng.next() % UInt64(hi - lo + 1))]
                var i = lo, j = hi
                while i <= j {
                    while v[i] > pivot { i += 1 }
                    while v[j] < pivot { j -= 1 }
                    if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
                }
                if target <= j { hi = j } else if target >= i { lo = i } else { break }
            }
        }
        let threshold = v[target]
        var chosen: [Int] = []
        chosen.reserveCapacity(k + 16)
        for i in values.indices where values[i] >= threshold && values[i].isFinite { chosen.append(i) }
        chosen.sort { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        return Array(chosen.prefix(k))
    }
}

/// The learned-concept decoder: the concept head's word probabilities score every datastore caption by
/// the log-odds of the words it uses (a caption naming likely words and no unlikely ones scores high),
/// the best `pool` captions vote, and the consensus pick (minimum Bayes risk under CIDEr-D's gain) is
/// the caption.
public struct ConceptRetrievalCaptioner: Sendable {
    public struct Config: Sendable, Codable, Equatable {
        // Defaults chosen by `swiftcap tune` (cross-validation on 600 training photos, their own captions left
        // out; configs/concept-retrieval-grid.json, docs/default-captioner.md), not on coco-dev: every setting
        // with the evidence term beat the one without; among those (within 0.01 of each other, no interval
        // excluding zero) the fastest was taken.
        /// Captions retrieved per photo; all of them vote and compete.
        public var pool = 2000
        /// Captions shorter than this many words are never retrieved ("a dog." names the right word and says little).
        public var minWords = 6
        /// Probabilities are clamped to [ε, 1 − ε] before taking log-odds.
        public var epsilon: Float = 1e-4
        /// Weight of the retrieval score (standardised over the pool, in units of the consensus spread) added
        /// to the consensus when picking: the photo's own evidence against the pool's majority.
        public var evidenceWeight: Float = 0.5
        public var consensus = ConsensusReranker.Method.centroid
        /// Nearest training photos (by image features) whose captions join the pool as a second vote (0: off).
        public var neighbours = 0
        /// Vote of each neighbour caption relative to a retrieved caption's 1.
        public var neighbourWeight: Float = 1
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            pool = try c.decodeIfPresent(Int.self, forKey: .pool) ?? d.pool
            minWords = try c.decodeIfPresent(Int.self, forKey: .minWords) ?? d.minWords
            epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? d.epsilon
            evidenceWeight = try c.decodeIfPresent(Float.self, forKey: .evidenceWeight) ?? d.evidenceWeight
            consensus = try c.decodeIfPresent(ConsensusReranker.Method.self, forKey: .consensus) ?? d.consensus
            neighbours = try c.decodeIfPresent(Int.self, forKey: .neighbours) ?? d.neighbours
            neighbourWeight = try c.decodeIfPresent(Float.self, forKey: .neighbourWeight) ?? d.neighbourWeight
        }
    }

    public struct Result: Sendable {
        public var caption: String
        /// Distinct pool captions, best consensus first (at most 5).
        public var retrieved: [String]
        /// The most probable words, most probable first (at most 12).
        public var words: [(word: String, probability: Float)]
    }

    public let datastore: Datastore
    public let index: CaptionWordIndex
    /// The concept head's words, in its output order.
    public let vocabulary: [String]
    public var config: Config

    public init(datastore: Datastore, vocabulary: [String], config: Config = Config()) {
        self.datastore = datastore
        self.vocabulary = vocabulary
        self.index = CaptionWordIndex(datastore: datastore, vocabulary: vocabulary)
        self.config = config
    }

    /// Log-odds of each vocabulary word.
    public func logOdds(_ probabilities: [Float]) -> [Float] {
        let e = config.epsilon
        return probabilities.map { p in log((p + e) / (1 - p + e)) }
    }

    /// The caption for one photo's word probabilities; `neighbourCaptions` (the captions of its nearest
    /// training photos) vote with `config.neighbourWeight` each and compete too. Datastore captions in
    /// `excluding` are never retrieved (cross-validation leaves a training photo's own captions out).
    public func caption(probabilities: [Float], neighbourCaptions: [String] = [], excluding: [Int] = [],
                        device: Device = Device(threads: 1)) -> Result {
        let lo = logOdds(probabilities)
        func retrieve(minWords: Int) -> (scores: [Float], top: [Int]) {
            var scores = index.scores(lo, minWords: minWords, device: device)
            for c in excluding where c >= 0 && c < scores.count { scores[c] = -.infinity }
            return (scores, CaptionWordIndex.top(scores, max(1, config.pool)))
        }
        var (scores, top) = retrieve(minWords: config.minWords)
        // A datastore of short captions only (a swapped-in domain): score them all rather than answer nothing.
        if top.isEmpty && config.minWords > 1 { (scores, top) = retrieve(minWords: 1) }
        var pool = top.map { datastore.caption($0) }
        // Neighbour captions get their own word score, so the evidence term treats them like the rest.
        var z = top.map { Double(scores[$0]) }
        for c in neighbourCaptions {
            pool.append(c)
            z.append(Double(index.vocabularyIDs(c).reduce(Float(0)) { $0 + lo[$1] }))
        }
        var reranker = ConsensusReranker()
        reranker.method = config.consensus
        let votes = top.map { _ in 1.0 } + neighbourCaptions.map { _ in Double(config.neighbourWeight) }
        var consensus = reranker.scores(pool, weights: votes)
        if config.evidenceWeight != 0, pool.count > 1 {
            func stats(_ v: [Double]) -> (Double, Double) {
                let m = v.reduce(0, +) / Double(v.count)
                return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot())
            }
            let (zm, zs) = stats(z), (_, cs) = stats(consensus)
            for i in consensus.indices { consensus[i] += Double(config.evidenceWeight) * (z[i] - zm) / max(zs, 1e-9) * cs }
        }
        let order = consensus.indices.sorted { consensus[$0] != consensus[$1] ? consensus[$0] > consensus[$1] : $0 < $1 }
        let ranked = order.map { pool[$0] }
        let words = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(12)
            .map { (word: vocabulary[$0], probability: probabilities[$0]) }
        return Result(caption: CaptionCorpus.tidy(ranked.first ?? ""), retrieved: RetrievalCaptioner.distinct(ranked, 5).map(CaptionCorpus.tidy),
                      words: words)
    }
}
