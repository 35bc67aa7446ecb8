import ArgumentParser
import Foundation
import SwiftCap
import SwiftCapHub

struct Caption: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Caption photos with the default captioner.",
        discussion: """
        Takes files, directories (their .jpg/.jpeg/.png files, sorted), glob patterns and @list.txt files \
        (one path per line); every photo shares one model load. A photo that fails prints an error (or a \
        JSON object with "error") and the others still get captions; the exit status is 1 if any photo failed.

        With --out FILE it is a batch job (docs/batch.md): progress on stderr, results appended to FILE \
        (.jsonl or .csv) as each photo is done, resumed by running the same command again, optionally \
        sharded (--shard K/N) and with XMP sidecars (--sidecar xmp).
        """)

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "Photos, directories, glob patterns or @list.txt files.") var inputs: [String]
    @OptionGroup var batch: BatchOptions
    @Flag(help: "Print one JSON object per photo (JSON lines).") var json = false
    @Option(help: "Caption datastore (default: <assets>/datastore/coco-karpathy-train.scds).") var datastore: String?
    @Option(help: "Shared folder with models/ (default: $SWIFTCAP_SHARED or ../shared).") var shared: String?
    @Flag(help: "Descend into sub-directories.") var recursive = false
    @Option(help: "Default captioner's decoder: concepts (default: the learned concept head + retrieval), retrieval, generative (the trained concept decoder), or smollm2.")
    var decoder: CaptionDecoderKind?
    @Option(help: "A hub model ORG/NAME[@REVISION] (BLIP, SmallCap, ClipCap; fetched into the shared hub cache, or used from it offline; see docs/captioners.md) — or, with --decoder generative, the concept decoder weights file (default: models/concept-decoder.safetensors).")
    var model: String?
    @Option(help: "Published architecture instead of the default captioner: clipcap | smallcap | blip (needs --weights; see docs/captioners.md).")
    var arch: CaptionerArch?
    @Option(help: "With --arch: folder holding the downloaded checkpoint files.") var weights: String?
    @Option(help: "With --arch: beam width.") var beams = 3
    @Option(help: "With --arch: most new tokens per caption.") var maxTokens = 20
    @Option(help: "With --arch smallcap: a retrieved caption for the prompt (repeat up to 4 times).") var retrieved: [String] = []
    @Option(help: "With --arch clipcap / a ClipCap --model: GPT-2 attention heads (default: inferred from the tensors, width / 64).")
    var gptHeads: Int?
    @Flag(help: "With --arch / --model: refuse a checkpoint holding learned tensors the model does not load (constant buffers such as position_ids and GPT-2's attn.bias are allowed).")
    var strict = false
    @Option(help: "With --arch / --model: hold the weight matrices (encoder included) as f32 (as stored), f16, int8 or q4 in memory; int8 runs prompts and the encoder on the integer GEMM (docs/performance.md).")
    var quant: QuantizeTarget = .f32

    /// `--model ORG/NAME[@REV]` names a hub repository (not a file, and not the generative decoder's weights).
    var hubModel: String? {
        guard let model, decoder != .generative, !FileManager.default.fileExists(atPath: model), RepoID.looksLikeRepoID(model) else { return nil }
        return model
    }

    func validate() throws {
        if hubModel != nil {
            if weights != nil { throw ValidationError("--model ORG/NAME fetches the weights; drop --weights (or use --arch with --weights for a local folder)") }
            if batch.out != nil { throw ValidationError("--out runs the default captioner; it cannot be combined with --model ORG/NAME yet") }
            guard beams >= 1, maxTokens >= 1 else { throw ValidationError("--beams and --max-tokens must be at least 1") }
            if let gptHeads, gptHeads < 1 { throw ValidationError("--gpt-heads must be at least 1") }
            return
        }
        if let gptHeads, gptHeads < 1 { throw ValidationError("--gpt-heads must be at least 1") }
        if arch != nil && weights == nil { throw ValidationError("--arch needs --weights DIR (the downloaded checkpoint folder)") }
        if arch == nil && weights != nil { throw ValidationError("--weights is only used with --arch clipcap|smallcap|blip") }
        if arch != nil && batch.out != nil { throw ValidationError("--out runs the default captioner; it cannot be combined with --arch yet") }
        if json && batch.out != nil { throw ValidationError("--json prints to stdout; with --out the results go to the file (use a .jsonl name)") }
        guard beams >= 1, maxTokens >= 1 else { throw ValidationError("--beams and --max-tokens must be at least 1") }
    }

    /// Settings for a published captioner (--model or --arch), from the flags.
    func publishedOptions() -> PublishedCaptionerOptions {
        var options = PublishedCaptionerOptions(beams: beams, maxTokens: maxTokens, threads: compute.threads, quant: quant)
        options.retrievedCaptions = retrieved
        options.gptHeads = gptHeads
        options.strict = strict
        return options
    }

    func run() throws {
        if let hubModel {
            let options = publishedOptions()
            let hub = try resolveHubCaptioner(hubModel, arch: arch, options: options)
            let photos = try expandImageInputs(inputs, recursive: recursive)
            try runPublishedCaptioner(arch: hub.arch, weights: hub.weights, images: photos.map { URL(fileURLWithPath: $0) }, options: hub.options)
            return
        }
        if let arch, let weights {
            let options = publishedOptions()
            let photos = try expandImageInputs(inputs, recursive: recursive)
            try runPublishedCaptioner(arch: arch, weights: URL(fileURLWithPath: weights),
                                      images: photos.map { URL(fileURLWithPath: $0) }, options: options)
            return
        }
        var paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        if let shared { paths.shared = URL(fileURLWithPath: shared) }
        let photos = try expandImageInputs(inputs, recursive: recursive)
        let captioner = try DefaultCaptioner(
            paths: paths, datastore: datastore.map { URL(fileURLWithPath: $0) }, device: compute.device, decoderKind: decoder ?? .standard,
            model: model.map { URL(fileURLWithPath: $0) } ?? DefaultCaptioner.defaultModelURL(repositoryRoot: repositoryRootGuess()),
            conceptHead: DefaultCaptioner.defaultConceptHeadURL(repositoryRoot: repositoryRootGuess()),
            fallBackToRetrieval: decoder == nil)
        for w in captioner.warnings { printError("warning: \(w)") }
        if let out = batch.out {
            let embedder = batch.noEmbeddings ? nil : loadSentenceEmbedder(paths: paths)
            try runBatchJob(batch, out: out, photos: photos, captioner: captioner, threads: compute.device.threads, embedder: embedder)
            return
        }
        var failures = 0
        for photo in photos {
            do {
                let out = try captioner.describe(imageAt: URL(fileURLWithPath: photo))
                if json {
                    printJSONLine(CaptionRecord(image: photo, caption: out.caption, concepts: out.evidence,
                                                retrieved: out.retrieved, query: out.query, timings_ms: out.timings))
                } else {
                    print("\(photo): \(out.caption)")
                }
            } catch {
                failures += 1
                if json { printJSONLine(ErrorRecord(image: photo, error: "\(error)")) } else { printError("\(photo): error: \(error)") }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

struct CaptionRecord: Encodable {
    var image: String
    var caption: String
    var concepts: [ConceptEvidence]
    var retrieved: [String]
    var query: [String: Float]
    var timings_ms: StageTimings
}

struct ErrorRecord: Encodable {
    var image: String
    var error: String
}

func printJSONLine<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(value), let line = String(data: data, encoding: .utf8) {
        print(line)
    }
}

/// The repository root when the binary runs from `<repo>/.build/<config>/swiftcap`, so `../shared`
/// beside the repository is found from any working directory.
func repositoryRootGuess() -> URL? {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    for _ in 0..<4 {
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

/// Errors naming an input that is not a photo we can find.
struct InputError: Error, CustomStringConvertible {
    var description: String
}

/// Files, directories, glob patterns and @list files -> photo paths (directories: .jpg/.jpeg/.png, sorted).
func expandImageInputs(_ inputs: [String], recursive: Bool) throws -> [String] {
    let exts = ImageDecoder.photoExtensions
    var out: [String] = []
    let fm = FileManager.default
    for input in inputs {
        var isDir: ObjCBool = false
        if input.hasPrefix("@") {
            // @list.txt: one photo path per line (blank lines and lines starting with # skipped).
            let listPath = String(input.dropFirst())
            guard let text = try? String(contentsOfFile: listPath, encoding: .utf8) else {
                throw InputError(description: "\(input): cannot read the list file \(listPath) (missing, unreadable or not UTF-8)")
            }
            let listed = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if listed.isEmpty { throw InputError(description: "\(input): the list names no photos") }
            out += listed
        } else if fm.fileExists(atPath: input, isDirectory: &isDir) {
            if isDir.boolValue {
                let base = URL(fileURLWithPath: input)
                var found: [String] = []
                if recursive {
                    let e = fm.enumerator(atPath: input)
                    while let rel = e?.nextObject() as? String {
                        if exts.contains((rel as NSString).pathExtension.lowercased()) { found.append(base.appendingPathComponent(rel).path) }
                    }
                } else {
                    let names = (try? fm.contentsOfDirectory(atPath: input)) ?? []
                    for n in names where exts.contains((n as NSString).pathExtension.lowercased()) {
                        found.append(input.hasSuffix("/") ? input + n : input + "/" + n)
                    }
                }
                if found.isEmpty { throw InputError(description: "\(input): directory has no .jpg, .jpeg or .png files") }
                out += found.sorted()
            } else {
                out.append(input)
            }
        } else if input.contains("*") || input.contains("?") || input.contains("[") {
            let matches = globPaths(input)
            if matches.isEmpty { throw InputError(description: "\(input): no file matches this pattern") }
            out += matches
        } else {
            // Reported per photo (the others still run).
            out.append(input)
        }
    }
    if out.isEmpty { throw InputError(description: "no photos given") }
    return out
}

func globPaths(_ pattern: String) -> [String] {
    var g = glob_t()
    defer { globfree(&g) }
    guard glob(pattern, 0, nil, &g) == 0 else { return [] }
    var out: [String] = []
    for i in 0..<Int(g.gl_pathc) {
        if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
    }
    return out.sorted()
}

extension CaptionDecoderKind: ExpressibleByArgument {}
