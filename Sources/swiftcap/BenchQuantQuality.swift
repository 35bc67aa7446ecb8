import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench quant-quality`: what f16 / int8 / q4 weights cost in quality on the real-weight models whose
/// kernels are fp32 (EfficientNet-Lite0, PicoDet-S, SmolLM2-135M). Their weights are quantized and dequantized
/// at load (`RoundTripQuantizedSource`, `WeightRoundTrip`), so the networks compute in fp32 on exactly the values
/// the format stores: quality moves, time does not (the times are measured and shown to make that visible).
/// scripts/quant-quality.sh drives this, scores the detector with pycocotools and adds the caption models.
struct BenchQuantQuality: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quant-quality",
        abstract: "Quality of f16 / int8 / q4 weights (quantize-dequantize at load) on EfficientNet-Lite0, PicoDet-S and SmolLM2-135M.",
        discussion: """
        classifier  EfficientNet-Lite0 (ImageNet): top-1 agreement of each format with fp32 over --images photos.
                    Weights: every conv and the classifier matrix (batch norms, biases stay fp32).
        detector    PicoDet-S 416: detections (score >= --score-threshold, at most 100 per photo) on every photo of
                    --boxes, written per format as COCO results JSON into --out (score them with pycocotools:
                    scripts/quant-quality.sh). Weights: every Conv weight of the graph.
        llm         SmolLM2-135M-Instruct (the Q4_1 GGUF asset; "fp32" is that file dequantized): perplexity on
                    coco-dev reference captions (Karpathy val), --captions-per-photo per photo in file-name order.
                    Weights: every rank-2 tensor with at least 4,096 elements (incl. the tied embedding/output).
        int8 = one scale per output channel (row), q4 = one f16 scale per 32 weights along the row (rows that are
        not a multiple of 32 long fall back to int8 and are counted), f16 = every weight rounded to half.
        """)

    enum Part: String, ExpressibleByArgument, CaseIterable { case classifier, detector, llm }

    @OptionGroup var compute: ComputeOptions
    @Option(help: "classifier | detector | llm") var part: Part
    @Option(help: "Comma-separated weight formats.") var formats = "f32,f16,int8,q4"
    @Option(help: "classifier: comma-separated photo folders (default: ../shared eval/coco-dev/images and data/coco-train/images).")
    var images: String?
    @Option(help: "classifier: use at most this many photos; llm: the captions of the first this many photos (0 = all).") var limit = 0
    @Option(help: "detector: COCO instances JSON (default: ../shared eval/coco-boxes/instances.json); file names relative to ../shared.")
    var boxes: String?
    @Option(help: "detector: score threshold of the detections written.") var scoreThreshold: Float = 0.05
    @Option(help: "detector: folder for detections-FORMAT.json.") var out = "quant-quality-out"
    @Option(help: "llm: reference captions JSON (default: ../shared eval/coco-dev/references.json).") var references: String?
    @Option(help: "llm: captions scored per photo (the first N of each).") var captionsPerPhoto = 1
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    func validate() throws {
        let fs = formats.split(separator: ",").map(String.init)
        guard !fs.isEmpty, fs.allSatisfy({ QuantizeTarget(rawValue: $0) != nil }) else {
            throw ValidationError("--formats takes f32, f16, int8, q4 (comma-separated), got '\(formats)'")
        }
        guard limit >= 0, captionsPerPhoto >= 1, (0...1).contains(scoreThreshold) else {
            throw ValidationError("--limit must be >= 0, --captions-per-photo >= 1, --score-threshold in [0, 1]")
        }
    }

    /// One format's row: quality figure(s), time, and what was quantized.
    struct Row: Encodable {
        var format: String
        var quality: [String: Double] = [:]
        var medianMs: Double = 0
        var storedBytes = 0
        var fp32Bytes = 0
        var quantizedTensors = 0
        var quantizedParameters = 0
        var int8Fallbacks = 0
    }

    struct Report: Encodable {
        var part: String
        var items: Int
        var itemsDescription: String
        var threads: Int
        var rows: [Row]
        var notes: [String]
    }

    func run() throws {
        let device = compute.device
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        let targets = formats.split(separator: ",").compactMap { QuantizeTarget(rawValue: String($0)) }
        let report: Report
        switch part {
        case .classifier: report = try classifier(targets, paths: paths, device: device)
        case .detector: report = try detector(targets, paths: paths, device: device)
        case .llm: report = try llm(targets, paths: paths, device: device)
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
            return
        }
        print("\(report.part): \(report.items) \(report.itemsDescription), \(report.threads) threads")
        print(pad("format", 8) + pad("quality", 40) + pad("median ms", 11) + pad("weights MB", 12) + "quantized tensors / params (q4 -> int8)")
        for r in report.rows {
            let q = r.quality.keys.sorted().map { String(format: "%@ %.4f", $0, r.quality[$0] ?? 0) }.joined(separator: ", ")
            print(pad(r.format, 8) + pad(q, 40) + pad(String(format: "%.2f", r.medianMs), 11)
                  + pad(String(format: "%.2f", Double(r.storedBytes) / 1e6), 12)
                  + "\(r.quantizedTensors) / \(r.quantizedParameters) (\(r.int8Fallbacks))")
        }
        for n in report.notes { print("note: \(n)") }
    }

    func tallyRow(_ format: QuantizeTarget, _ t: RoundTripQuantizedSource.Tally) -> Row {
        Row(format: format.rawValue, storedBytes: t.storedBytes, fp32Bytes: t.fp32Bytes, quantizedTensors: t.tensors,
            quantizedParameters: t.parameters, int8Fallbacks: t.int8Fallbacks)
    }

    // MARK: classifier

    func classifier(_ targets: [QuantizeTarget], paths: AssetPaths, device: Device) throws -> Report {
        let url = paths.asset(EfficientNetLite0.assetRelativePath)
        let checkpoint = try TorchCheckpoint(url: url)
        var models: [(QuantizeTarget, EfficientNetLite0)] = []
        var rows: [Row] = []
        for t in targets {
            // Every rank-4 conv weight and the rank-2 classifier: min 1 element.
            let source = RoundTripQuantizedSource(checkpoint, to: t, minElements: 1, device: device)
            models.append((t, try EfficientNetLite0(weights: Weights(source))))
            rows.append(tallyRow(t, source.tally))
        }
        let folders = images.map { $0.split(separator: ",").map { URL(fileURLWithPath: String($0)) } }
            ?? [paths.sharedFile("eval/coco-dev/images"), paths.sharedFile("data/coco-train/images")]
        var files: [URL] = []
        for f in folders {
            let names = try FileManager.default.contentsOfDirectory(atPath: f.path).filter {
                [".jpg", ".jpeg", ".png"].contains(where: $0.lowercased().hasSuffix)
            }.sorted()
            files += names.map { f.appendingPathComponent($0) }
        }
        if limit > 0 { files = Array(files.prefix(limit)) }
        guard !files.isEmpty else { throw ValidationError("no photos under \(folders.map(\.path))") }
        var top1: [[Int]] = Array(repeating: [], count: models.count)
        var ms: [[Double]] = Array(repeating: [], count: models.count)
        let decoder = ImageDecoder()
        for (n, file) in files.enumerated() {
            let image = try decoder.decode(contentsOf: file)
            let input = try models[0].1.preprocess(image, device: device)
            for (i, (_, model)) in models.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let c = try model.classify(input: input, topK: 1, device: device)
                ms[i].append(milliseconds(since: start))
                top1[i].append(c.top.first?.index ?? -1)
            }
            if (n + 1) % 500 == 0 { printError("classifier: \(n + 1)/\(files.count) photos") }
        }
        let reference = targets.firstIndex(of: .f32).map { top1[$0] }
        for i in rows.indices {
            rows[i].medianMs = median(ms[i])
            if let reference { rows[i].quality["top1_agreement_with_f32"] = QuantQuality.topOneAgreement(top1[i], reference) }
        }
        return Report(part: "classifier", items: files.count,
                      itemsDescription: "photos (" + folders.map { $0.deletingLastPathComponent().lastPathComponent + "/" + $0.lastPathComponent }.joined(separator: " + ") + ")",
                      threads: device.threads, rows: rows,
                      notes: ["EfficientNet-Lite0 from \(url.lastPathComponent); median ms = one classify(input:) (network + softmax) per photo",
                              "weights quantize-dequantized at load, fp32 kernels: time is unchanged by the format"])
    }

    // MARK: detector

    func detector(_ targets: [QuantizeTarget], paths: AssetPaths, device: Device) throws -> Report {
        let url = paths.sharedFile(PicoDet.sharedRelativePath)
        let spec = try GraphSpec(onnx: ONNXModel(url: url))
        let convWeights = Set(spec.nodes.filter { $0.opType == "Conv" && $0.inputs.count > 1 }.map { $0.inputs[1] })
        var models: [(QuantizeTarget, PicoDet)] = []
        var rows: [Row] = []
        for t in targets {
            var s = spec
            var row = Row(format: t.rawValue)
            for (name, tensor) in spec.constants {
                row.fp32Bytes += tensor.count * 4
                guard convWeights.contains(name) else { row.storedBytes += tensor.count * 4; continue }
                let o = try WeightRoundTrip.apply(tensor, target: t, device: device)
                s.constants[name] = o.tensor
                row.storedBytes += o.storedBytes
                if t != .f32 {
                    row.quantizedTensors += 1
                    row.quantizedParameters += tensor.count
                    if t == .q4 && o.storedAs == "int8" { row.int8Fallbacks += 1 }
                }
            }
            var config = PicoDetConfig()
            config.scoreThreshold = scoreThreshold
            models.append((t, try PicoDet(spec: s, config: config)))
            rows.append(row)
        }
        let shared = paths.shared
        let boxesURL = boxes.map { URL(fileURLWithPath: $0) } ?? paths.sharedFile("eval/coco-boxes/instances.json")
        struct Instances: Decodable {
            struct Image: Decodable { var id: Int; var file_name: String }
            struct Category: Decodable { var id: Int; var name: String }
            var images: [Image]
            var categories: [Category]
        }
        let gt = try JSONDecoder().decode(Instances.self, from: Data(contentsOf: boxesURL))
        let categoryID = Dictionary(gt.categories.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        struct Result: Encodable { var image_id: Int; var category_id: Int; var score: Float; var bbox: [Float] }
        var results: [[Result]] = Array(repeating: [], count: models.count)
        var ms: [[Double]] = Array(repeating: [], count: models.count)
        let decoder = ImageDecoder()
        for img in gt.images.sorted(by: { $0.id < $1.id }) {
            let image = try decoder.decode(contentsOf: shared.appendingPathComponent(img.file_name))
            let input = try models[0].1.preprocess(image, device: device)
            for (i, (_, model)) in models.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let (s, b) = try model.rawOutputs(input, device: device)
                let dets = model.decode(scores: s, boxes: b, imageWidth: image.width, imageHeight: image.height)
                ms[i].append(milliseconds(since: start))
                for d in dets {
                    guard let cid = categoryID[d.label] else { throw ValidationError("no COCO category named '\(d.label)' in \(boxesURL.path)") }
                    results[i].append(Result(image_id: img.id, category_id: cid, score: d.score,
                                             bbox: [d.box.x0, d.box.y0, d.box.x1 - d.box.x0, d.box.y1 - d.box.y0]))
                }
            }
        }
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        for (i, (t, _)) in models.enumerated() {
            try JSONEncoder().encode(results[i]).write(to: outDir.appendingPathComponent("detections-\(t.rawValue).json"))
            rows[i].medianMs = median(ms[i])
            rows[i].quality["detections"] = Double(results[i].count)
        }
        return Report(part: "detector", items: gt.images.count, itemsDescription: "photos of \(boxesURL.lastPathComponent)",
                      threads: device.threads, rows: rows,
                      notes: ["PicoDet-S 416 from \(url.lastPathComponent); median ms = network + box decoding + NMS per photo (preprocessing excluded)",
                              "detections (score >= \(scoreThreshold)) in \(outDir.path)/detections-FORMAT.json (COCO results format)",
                              "weights quantize-dequantized at load, fp32 kernels: time is unchanged by the format"])
    }

    // MARK: llm

    func llm(_ targets: [QuantizeTarget], paths: AssetPaths, device: Device) throws -> Report {
        let url = paths.asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        let g = try GGUFFile(url: url)
        let vocab = try GGUFVocabulary(source: url.path, string: { g.value($0)?.stringValue },
                                       strings: { g.value($0)?.arrayValue?.compactMap(\.stringValue) },
                                       ints: { g.value($0)?.arrayValue?.compactMap(\.intValue) })
        let tokenizer = try GPT2Tokenizer(gguf: vocab, source: url.path)
        let config = try LlamaConfig(gguf: g)
        var models: [(QuantizeTarget, Llama)] = []
        var rows: [Row] = []
        for t in targets {
            let source = RoundTripQuantizedSource(g, to: t, device: device)
            models.append((t, try Llama(config: config, weights: Weights(source))))
            rows.append(tallyRow(t, source.tally))
        }
        let refsURL = references.map { URL(fileURLWithPath: $0) } ?? paths.sharedFile("eval/coco-dev/references.json")
        let refs = try JSONDecoder().decode([String: [String]].self, from: Data(contentsOf: refsURL))
        let photos = limit > 0 ? Array(refs.keys.sorted().prefix(limit)) : refs.keys.sorted()
        let captions = photos.flatMap { (refs[$0] ?? []).prefix(captionsPerPhoto) }
        var nll = Array(repeating: 0.0, count: models.count)
        var ms: [[Double]] = Array(repeating: [], count: models.count)
        var predicted = 0
        for (n, caption) in captions.enumerated() {
            // The caption as plain text (trimmed); every token after the first is predicted from those before it.
            let ids = tokenizer.encode(caption.trimmingCharacters(in: .whitespacesAndNewlines))
            guard ids.count >= 2 else { continue }
            let context = Array(ids.dropLast()), targetsIds = Array(ids.dropFirst())
            predicted += targetsIds.count
            for (i, (_, model)) in models.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                var cache = model.makeCache()
                let hidden = try model.hiddenStates(ids: [context], cache: &cache, device: device)
                let logits = try model.logits(hidden, device: device)
                ms[i].append(milliseconds(since: start))
                nll[i] += QuantQuality.negativeLogLikelihood(logits: logits.scalars, vocabulary: config.vocabSize, targets: targetsIds)
            }
            if (n + 1) % 100 == 0 { printError("llm: \(n + 1)/\(captions.count) captions") }
        }
        for i in rows.indices {
            rows[i].medianMs = median(ms[i])
            rows[i].quality["perplexity"] = QuantQuality.perplexity(totalNLL: nll[i], tokens: predicted)
        }
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        return Report(part: "llm", items: captions.count,
                      itemsDescription: "captions (the first \(captionsPerPhoto) of each of the first \(photos.count) photos of \(refsURL.lastPathComponent) in file-name order, \(predicted) predicted tokens)",
                      threads: device.threads, rows: rows,
                      notes: ["SmolLM2-135M-Instruct from \(url.lastPathComponent) (\(fileBytes) bytes, Q4_1): its weights are 4-bit already; f32 = that file dequantized",
                              "median ms = one forward over a caption's tokens (logits at every position)",
                              "weights quantize-dequantized at load, fp32 kernels: time is unchanged by the format"])
    }
}
