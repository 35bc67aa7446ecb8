import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap eval`: COCO caption metrics (pycocoevalcap 1.2 parity) for existing captions or for a
/// model run over a folder of images, with results.json and a self-contained report.html.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score captions against references (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D; SPICE unavailable).",
        discussion: """
        References: an object mapping image file name to its reference captions (as in
        ../shared/eval/coco-dev/references.json) or COCO caption annotation JSON.
        --captions scores an object mapping image file name to caption. --images DIR captions every
        JPEG/PNG in DIR with the model first (and, with --captions, only supplies the photos for
        report.html). METEOR runs the reference meteor-1.5.jar with java when both are present.
        --compare B.json scores a second system on the same images (a {file: caption} map or a
        results.json from an earlier eval) and prints each metric for A and B with a paired-bootstrap
        95% interval of A − B. Without --compare the CIDEr-D interval of the one system is printed.
        """)

    @Option(help: "Reference captions JSON.") var references: String
    @Option(help: "Captions JSON to score (image file name -> caption).") var captions: String?
    @Option(help: "Folder of images: captioned with the model unless --captions is given; photos for report.html.")
    var images: String?
    @Option(help: "Decoder of the default captioner for --images: concepts (default), neighbours (the nearest-photo baseline), retrieval, generative or smollm2.") var arch: String?
    @Option(help: "With --images and the concepts decoder: settings JSON (any subset of ConceptRetrievalCaptioner.Config: pool, minWords, epsilon, evidenceWeight, consensus).")
    var conceptConfig: String?
    @Option(help: "Model weights for --images.") var weights: String?
    @Option(help: "With --images and the concepts decoder: the concept head file (default models/concept-head.safetensors; e.g. one written by `swiftcap quantize`).")
    var conceptHead: String?
    @Option(help: "With --images and --arch generative: the concept decoder file (default models/concept-decoder.safetensors).")
    var decoderModel: String?
    @Option(help: "Caption --images with a hub model ORG/NAME[@REVISION] (BLIP, SmallCap, ClipCap; fetched into the hub cache, or used from it offline; see docs/captioners.md). --arch clipcap|smallcap|blip overrides the guessed architecture.")
    var model: String?
    @Option(help: "With --model: beam width.") var beams = 3
    @Option(help: "With --model: most new tokens per caption.") var maxTokens = 20
    @Option(help: "With --model: weight matrices held as f32 (as stored), f16, int8 or q4 in memory.") var quant: QuantizeTarget = .f32
    @Option(help: "Output folder for results.json and report.html.") var out = "eval-out"
    @Flag(help: "Print the corpus scores as one JSON object on stdout.") var json = false
    @Flag(name: .customLong("no-meteor"), help: "Skip METEOR (the Java jar).") var noMeteor = false
    @Flag(name: .customLong("no-report"), help: "Do not write report.html.") var noReport = false
    @Option(help: "Captions of a second system B to compare against (image -> caption JSON, or an eval results.json).")
    var compare: String?
    @Option(name: .customLong("bootstrap"), help: "Paired-bootstrap resamples for the confidence intervals.")
    var bootstrapResamples = 2000
    @Option(help: "Seed of the bootstrap's random draws.") var seed: UInt64 = 0
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if captions == nil && images == nil {
            throw ValidationError("give --captions captions.json, or --images DIR to caption images with a model")
        }
        if bootstrapResamples < 1 { throw ValidationError("--bootstrap must be at least 1") }
        if model != nil {
            if images == nil { throw ValidationError("--model captions the photos of --images DIR; give --images") }
            if captions != nil { throw ValidationError("--model captions --images; with --captions there is nothing to caption (drop one)") }
            if weights != nil { throw ValidationError("--model ORG/NAME fetches the weights; drop --weights") }
            if conceptConfig != nil { throw ValidationError("--concept-config is for the default captioner, not --model") }
            if let arch, CaptionerArch(rawValue: arch) == nil {
                throw ValidationError("with --model, --arch is clipcap | smallcap | blip (got \(arch))")
            }
            guard beams >= 1, maxTokens >= 1 else { throw ValidationError("--beams and --max-tokens must be at least 1") }
        }
    }

    func run() throws {
        let device = compute.device
        let refURL = URL(fileURLWithPath: references)
        let refs = try ReferenceSet.load(refURL)
        var perImageExtras: [String: CaptionResult] = [:]
        var captionSeconds: Double? = nil
        let captionMap: [String: String]
        let captionsSource: String
        if let captions {
            captionMap = try loadCaptions(URL(fileURLWithPath: captions))
            captionsSource = captions
        } else if let images {
            let run = try captionFolder(URL(fileURLWithPath: images), refs: refs)
            captionMap = run.captions
            perImageExtras = run.results
            captionSeconds = run.seconds
            captionsSource = images
        } else {
            throw EvalFailure("give --captions or --images")
        }
        let aligned = try alignCaptions(captionMap, with: refs, captionsPath: captionsSource)
        // The compared system: read and checked before any scoring, so a bad file fails fast.
        var compareCandidates: [String]? = nil
        if let compare {
            let bMap = try loadCaptionsOrResults(URL(fileURLWithPath: compare))
            compareCandidates = try alignComparison(bMap, names: aligned.names, comparisonPath: compare)
            let extra = bMap.keys.filter { refs.captions[$0] == nil }.count
            if extra > 0 { printError("note: \(compare): ignoring \(extra) caption(s) for images not in the references") }
        }
        let bootstrap = PairedBootstrap(resamples: bootstrapResamples, seed: seed)

        var evaluator: CaptionEvaluator
        if noMeteor {
            evaluator = CaptionEvaluator(device: device, meteor: nil, meteorUnavailable: "METEOR skipped (--no-meteor)")
        } else {
            evaluator = CaptionEvaluator.withMeteorIfAvailable(assets: AssetPaths.fromEnvironment().assets, device: device)
        }
        evaluator.device = device
        let t0 = Date()
        let result = try evaluator.evaluate(candidates: aligned.candidates, references: aligned.references)
        let scoreSeconds = Date().timeIntervalSince(t0)
        let ciderCI = try bootstrap.interval(result.perImage.map(\.ciderD))
        var comparison: (rows: [ComparisonRow], json: String)? = nil
        if let compare, let compareCandidates {
            let other = try evaluator.evaluate(candidates: compareCandidates, references: aligned.references)
            let rows = try comparisonRows(result, other, bootstrap: bootstrap)
            comparison = (rows, comparisonJSON(rows, a: captionsSource, b: compare, bScores: other.corpus,
                                               images: aligned.names.count, bootstrap: bootstrap))
        }

        if json {
            var obj = corpusJSON(result.corpus)
            if let comparison { obj = String(obj.dropLast()) + ", \"comparison\": \(comparison.json)}" }
            print(obj)
            printError(ciderIntervalLine(ciderCI, images: aligned.names.count, bootstrap: bootstrap))
        } else {
            print(scoreTable(result, images: aligned.names.count, seconds: scoreSeconds))
            print(ciderIntervalLine(ciderCI, images: aligned.names.count, bootstrap: bootstrap))
            if let comparison, let compare {
                print("")
                print(comparisonTable(comparison.rows, a: captionsSource, b: compare, images: aligned.names.count, bootstrap: bootstrap))
            }
        }
        if let why = result.meteorUnavailable { printError("note: METEOR unavailable: \(why)") }

        let outDir = URL(fileURLWithPath: out)
        do {
            try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        } catch {
            throw EvalFailure("cannot create output folder \(out): \(error.localizedDescription)")
        }
        var timings = result.timings
        timings["total_scoring"] = scoreSeconds
        if let captionSeconds { timings["captioning"] = captionSeconds }
        let rows = (0..<aligned.names.count).map { i in
            EvalRow(name: aligned.names[i], caption: aligned.candidates[i], tokenized: result.tokenizedCandidates[i],
                    references: aligned.references[i], scores: result.perImage[i], extra: perImageExtras[aligned.names[i]])
        }
        let resultsURL = outDir.appendingPathComponent("results.json")
        try writeResultsJSON(to: resultsURL, result: result, rows: rows, timings: timings,
                             references: refURL.path, captions: captionsSource,
                             bootstrap: ciderIntervalJSON(ciderCI, bootstrap: bootstrap), comparison: comparison?.json)
        printError("wrote \(resultsURL.path)")
        if !noReport {
            let reportURL = outDir.appendingPathComponent("report.html")
            let photos = images.map { URL(fileURLWithPath: $0) }
            try writeReport(to: reportURL, result: result, rows: rows, photos: photos,
                            title: "SwiftCap eval: \(captionsSource) vs \(refURL.lastPathComponent)")
            printError("wrote \(reportURL.path)")
        }
    }

    /// Runs the captioner over every JPEG/PNG in `dir` with a progress bar on stderr.
    func captionFolder(_ dir: URL, refs: ReferenceSet) throws -> (captions: [String: String], results: [String: CaptionResult], seconds: Double) {
        let files = try imageFiles(in: dir)
        guard !files.isEmpty else { throw EvalFailure("\(dir.path): no .jpg/.jpeg/.png files") }
        let unknown = files.map(\.lastPathComponent).filter { refs.captions[$0] == nil }
        if !unknown.isEmpty {
            throw CaptionFileError.unknownImages(dir.path, unknown)
        }
        let hubCaptioner: (any Captioner)? = try model.map { spec in
            let options = PublishedCaptionerOptions(beams: beams, maxTokens: maxTokens, threads: compute.threads, quant: quant)
            let hub = try resolveHubCaptioner(spec, arch: arch.flatMap { CaptionerArch(rawValue: $0) }, options: options)
            return try PublishedCaptioner(arch: hub.arch, weights: hub.weights, options: hub.options, name: "\(hub.arch.rawValue) \(spec)")
        }
        guard let captioner = try hubCaptioner ?? makeEvalCaptioner(arch: arch, weights: weights, device: compute.device, conceptConfig: conceptConfig,
                                                                          conceptHead: conceptHead, decoderModel: decoderModel) else {
            throw EvalFailure("""
                no captioning model is available in this build for --images; score existing captions \
                with --captions captions.json
                """)
        }
        var progress = ProgressBar(total: files.count, label: "captioning")
        var captions: [String: String] = [:], results: [String: CaptionResult] = [:]
        let start = Date()
        for f in files {
            let r = try captioner.caption(imageAt: f)
            captions[f.lastPathComponent] = r.caption
            results[f.lastPathComponent] = r
            progress.advance()
        }
        progress.finish()
        return (captions, results, Date().timeIntervalSince(start))
    }
}

/// Image files (.jpg/.jpeg/.png, any case) directly inside `dir`, sorted by name.
func imageFiles(in dir: URL) throws -> [URL] {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
        throw EvalFailure("\(dir.path): not a folder")
    }
    return try ImageDecoder.photoFiles(in: dir)
}

/// The captioner `--images` uses: the default captioner unless `--arch` names another.
func makeEvalCaptioner(arch: String?, weights: String?, device: Device, conceptConfig: String? = nil,
                       conceptHead: String? = nil, decoderModel: String? = nil) throws -> (any Captioner)? {
    let kind: CaptionDecoderKind
    switch arch {
    case nil, "default": kind = .standard
    case "concepts": kind = .concepts
    case "neighbours": kind = .neighbours
    case "retrieval": kind = .retrieval
    case "generative": kind = .generative
    case "smollm2": kind = .smollm2
    default: return nil
    }
    let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
    let captioner = try DefaultCaptioner(paths: paths, datastore: weights.map { URL(fileURLWithPath: $0) }, device: device,
                                         decoderKind: kind,
                                         model: decoderModel.map { URL(fileURLWithPath: $0) }
                                            ?? DefaultCaptioner.defaultModelURL(repositoryRoot: repositoryRootGuess()),
                                         conceptHead: conceptHead.map { URL(fileURLWithPath: $0) }
                                            ?? DefaultCaptioner.defaultConceptHeadURL(repositoryRoot: repositoryRootGuess()),
                                         conceptConfig: try loadConceptConfig(conceptConfig),
                                         fallBackToRetrieval: arch == nil || arch == "default")
    for w in captioner.warnings { printError("warning: \(w)") }
    return captioner
}

/// Concept-retrieval settings from a JSON file (any subset of the fields), or the defaults.
func loadConceptConfig(_ path: String?) throws -> ConceptRetrievalCaptioner.Config {
    guard let path else { return ConceptRetrievalCaptioner.Config() }
    do { return try JSONDecoder().decode(ConceptRetrievalCaptioner.Config.self, from: Data(contentsOf: URL(fileURLWithPath: path))) }
    catch { throw EvalFailure("\(path): not a concept-retrieval settings file: \(error)") }
}

/// A progress callback `(done, total, label)` that draws one `ProgressBar` per label (training phases).
func phasedProgress() -> (Int, Int, String) -> Void {
    var bar: ProgressBar?
    return { done, total, label in
        if bar?.label != label || bar?.total != total {
            bar?.finish()
            bar = ProgressBar(total: total, label: label)
        }
        bar?.update(done: done)
        if done == total { bar?.finish(); bar = nil }
    }
}

/// A one-line progress bar on stderr: done/total, images/s and ETA.
struct ProgressBar {
    let total: Int
    let label: String
    var done = 0
    let start = Date()
    var lastDraw = Date.distantPast

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    mutating func advance() { update(done: done + 1) }

    /// Sets the count of finished items and redraws (at most every 0.2 s, and at the end).
    mutating func update(done: Int) {
        self.done = done
        let now = Date()
        if done == total || now.timeIntervalSince(lastDraw) > 0.2 {
            lastDraw = now
            draw(now)
        }
    }

    func draw(_ now: Date) {
        let elapsed = max(1e-9, now.timeIntervalSince(start))
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "\r%@ [%@] %d/%d  %.2f img/s  ETA %@", label, bar, done, total, rate, formatSeconds(eta))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        draw(Date())
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

func formatSeconds(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}

/// A runtime failure of `swiftcap eval` (printed as "Error: <message>", without the usage text).
struct EvalFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
