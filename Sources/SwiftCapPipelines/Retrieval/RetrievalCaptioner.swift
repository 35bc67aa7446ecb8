import Foundation

/// One detected or classified thing, as the retrieval decoder consumes it.
public struct ConceptEvidence: Sendable, Codable, Equatable {
    /// Concept name in the vocabulary ("dog", "dining table", "beach").
    public var name: String
    /// Confidence in 0…1.
    public var score: Float
    /// Fraction of the image area covered (1 for whole-image classifier labels).
    public var area: Float
    /// True for a whole-image classifier label, false (or absent) for a detected object.
    public var isLabel: Bool?

    public init(name: String, score: Float, area: Float, isLabel: Bool = false) {
        self.name = name
        self.score = score
        self.area = area
        self.isLabel = isLabel
    }
}

/// The retrieval decoder: concepts -> datastore query -> pool of training captions -> consensus pick.
public struct RetrievalCaptioner: Sendable {
    /// Defaults chosen on coco-dev (41 photos; see docs/default-captioner.md for the sweep).
    public struct Config: Sendable, Codable {
        /// Detections below this score are ignored.
        public var minScore: Float = 0.5
        /// Weight of a concept = score^scorePower × (area + areaFloor)^areaPower.
        public var scorePower: Float = 1
        public var areaPower: Float = 0
        public var areaFloor: Float = 0.02
        /// Classifier labels below this probability are ignored; kept ones weigh probability × labelWeight.
        public var minLabelScore: Float = 0.6
        public var labelWeight: Float = 0.5
        /// Concepts whose weight is below this fraction of the strongest are dropped.
        public var relativeFloor: Float = 0.15
        public var poolMinimum = 20
        /// Big pools vote better (coco-dev CIDEr-D 0.72 with ≤ 300 captions, 0.77–0.81 with 2,000–10,000);
        /// the centroid consensus keeps them cheap.
        public var poolMaximum = 5000
        public var poolTolerance: Float = 0.05
        /// Only the best `candidates` by retrieval score compete; the whole pool votes.
        public var candidates = 5000
        /// Vote weight of a pool caption = retrieval score ^ voteSharpness.
        public var voteSharpness: Float = 1
        /// Retrieve training images by concept profile (0: off, retrieve captions directly); the pool is
        /// every caption of the best `poolImages` images.
        public var poolImages = 0
        /// Consensus over the pool: exact pairwise gains or per-length centroids (for big pools).
        public var consensus = ConsensusReranker.Method.centroid
        public init() {}

        public init(from decoder: Decoder) throws {
            // Every field optional in JSON: a settings file names only what it changes.
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            minScore = try c.decodeIfPresent(Float.self, forKey: .minScore) ?? d.minScore
            scorePower = try c.decodeIfPresent(Float.self, forKey: .scorePower) ?? d.scorePower
            areaPower = try c.decodeIfPresent(Float.self, forKey: .areaPower) ?? d.areaPower
            areaFloor = try c.decodeIfPresent(Float.self, forKey: .areaFloor) ?? d.areaFloor
            minLabelScore = try c.decodeIfPresent(Float.self, forKey: .minLabelScore) ?? d.minLabelScore
            labelWeight = try c.decodeIfPresent(Float.self, forKey: .labelWeight) ?? d.labelWeight
            relativeFloor = try c.decodeIfPresent(Float.self, forKey: .relativeFloor) ?? d.relativeFloor
            poolMinimum = try c.decodeIfPresent(Int.self, forKey: .poolMinimum) ?? d.poolMinimum
            poolMaximum = try c.decodeIfPresent(Int.self, forKey: .poolMaximum) ?? d.poolMaximum
            poolTolerance = try c.decodeIfPresent(Float.self, forKey: .poolTolerance) ?? d.poolTolerance
            candidates = try c.decodeIfPresent(Int.self, forKey: .candidates) ?? d.candidates
            voteSharpness = try c.decodeIfPresent(Float.self, forKey: .voteSharpness) ?? d.voteSharpness
            poolImages = try c.decodeIfPresent(Int.self, forKey: .poolImages) ?? d.poolImages
            consensus = try c.decodeIfPresent(ConsensusReranker.Method.self, forKey: .consensus) ?? d.consensus
        }
    }

    public struct Result: Sendable {
        public var caption: String
        /// The pool the caption was chosen from, best consensus first (at most 5).
        public var retrieved: [String]
        public var query: [String: Float]
    }

    public let datastore: Datastore
    public var config: Config
    public var reranker: ConsensusReranker {
        var r = ConsensusReranker()
        r.method = config.consensus
        return r
    }
    /// Maps evidence words to the datastore's concept names ("television" -> "tv").
    public var vocabulary = ConceptVocabulary.standard

    public init(datastore: Datastore, config: Config = Config()) {
        self.datastore = datastore
        self.config = config
    }

    /// Builds the datastore query from evidence: per concept, its strongest weight and how many
    /// instances pass the score threshold.
    public func query(for evidence: [ConceptEvidence]) -> Datastore.Query {
        let q = query(for: evidence, minScore: config.minScore, minLabelScore: config.minLabelScore)
        // Nothing passed the thresholds: weak evidence (a 0.3 detection, a 0.2 label) beats none, which
        // would leave the datastore's generic fallback.
        if q.concepts.isEmpty { return query(for: evidence, minScore: min(config.minScore, 0.3), minLabelScore: min(config.minLabelScore, 0.2)) }
        return q
    }

    func query(for evidence: [ConceptEvidence], minScore: Float, minLabelScore: Float) -> Datastore.Query {
        var weight: [String: Float] = [:], count: [String: Int] = [:]
        for e in evidence {
            let label = e.isLabel ?? false
            guard e.score >= (label ? minLabelScore : minScore) else { continue }
            let name = vocabulary.canonicalName(e.name) ?? e.name
            let w = label ? e.score * config.labelWeight
                : pow(e.score, config.scorePower) * pow(e.area + config.areaFloor, config.areaPower)
            weight[name] = max(weight[name] ?? 0, w)
            count[name, default: 0] += 1
        }
        let strongest = weight.values.max() ?? 0
        var q = Datastore.Query()
        for (name, w) in weight where w >= config.relativeFloor * strongest {
            q.concepts[name] = (w / max(strongest, 1e-6), count[name] ?? 1)
        }
        return q
    }

    /// The first `k` captions that differ after tidying and lower-casing (a pool often holds the same
    /// sentence written by several people).
    public static func distinct(_ captions: [String], _ k: Int) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for c in captions where out.count < k {
            if seen.insert(CaptionCorpus.tidy(c).lowercased()).inserted { out.append(c) }
        }
        return out
    }

    /// The retrieval pool for a query, best first.
    public func pool(for q: Datastore.Query) -> [Datastore.Hit] {
        if config.poolImages > 0 { return datastore.searchImages(q, images: config.poolImages) }
        return datastore.search(q, minimum: config.poolMinimum, maximum: config.poolMaximum, tolerance: config.poolTolerance)
    }

    /// A query's pool with its votes, and the competing captions in consensus order.
    public struct Ranking: Sendable {
        /// Every pool caption (the voters), best retrieval score first.
        public var pool: [String]
        /// Vote of each pool caption: retrieval score ^ voteSharpness.
        public var votes: [Double]
        /// The best `candidates` pool captions, highest consensus first.
        public var ranked: [String]
    }

    /// Retrieves the pool for `q` and ranks its best `candidates` by consensus with the whole pool.
    public func ranking(for q: Datastore.Query) -> Ranking {
        let hits = pool(for: q)
        let pool = hits.map { datastore.caption($0.caption) }
        let votes = hits.map { Double(pow(max($0.score, 1e-6), config.voteSharpness)) }
        let cands = Array(0..<min(config.candidates, pool.count))
        let consensus = reranker.scores(pool, weights: votes, candidates: cands)
        let order = consensus.indices.sorted { consensus[$0] != consensus[$1] ? consensus[$0] > consensus[$1] : $0 < $1 }
        return Ranking(pool: pool, votes: votes, ranked: order.map { pool[cands[$0]] })
    }

    public func caption(evidence: [ConceptEvidence]) -> Result {
        let q = query(for: evidence)
        let ranked = ranking(for: q).ranked
        return Result(caption: CaptionCorpus.tidy(ranked.first ?? ""),
                      retrieved: RetrievalCaptioner.distinct(ranked, 5).map(CaptionCorpus.tidy),
                      query: q.concepts.mapValues { $0.weight })
    }
}
