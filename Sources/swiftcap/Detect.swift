import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap detect photo.jpg [--json] [--draw out.png]`: the photo's visual concepts.
struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect objects (PP-PicoDet-S) and classify (EfficientNet-Lite0): print the photo's concepts.")

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "A JPEG or PNG photo.") var photo: String
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Write the photo with labelled boxes to this PNG file.") var draw: String?
    @Option(help: "Detection score threshold.") var threshold: Float = ConceptOptions().detectionThreshold
    @Option(help: "Classifier probability threshold.") var classifierThreshold: Float = ConceptOptions().classifierThreshold
    @Option(help: "Classifier labels considered.") var topK: Int = ConceptOptions().classifierTopK

    func validate() throws {
        guard (0...1).contains(threshold), (0...1).contains(classifierThreshold) else {
            throw ValidationError("thresholds must be between 0 and 1")
        }
        guard (1...1000).contains(topK) else { throw ValidationError("--top-k must be between 1 and 1000") }
    }

    func run() throws {
        let device = compute.device
        var options = ConceptOptions()
        options.detectionThreshold = threshold
        options.classifierThreshold = classifierThreshold
        options.classifierTopK = topK
        let extractor = try ConceptExtractor.load(paths: AssetPaths.fromEnvironment(), options: options) { printError("note: " + $0) }
        let image = try ImageDecoder().decode(contentsOf: URL(fileURLWithPath: photo))
        let detections = try extractor.detector?.detect(image, device: device) ?? []
        let classification = try extractor.classifier.classify(image, topK: topK, device: device)
        let concepts = extractor.describe(detections: detections, classification: classification, imageWidth: image.width,
                                          imageHeight: image.height, detectorUsed: extractor.detector != nil)
        if let draw {
            let shown = detections.filter { $0.score >= threshold }
            try PNGWriter.write(try DetectionDrawing.draw(shown, on: image), to: URL(fileURLWithPath: draw))
        }
        if json {
            struct Output: Encodable {
                let photo: String
                let concepts: Concepts
                let words: [String]
                let classifierTop: [Classification.Label]
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try enc.encode(Output(photo: photo, concepts: concepts, words: concepts.words, classifierTop: classification.top))
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("\(photo): \(image.width)x\(image.height)")
        if concepts.detectorUsed {
            print(pad("object", 16) + pad("count", 7) + pad("score", 7) + "instances (score size position)")
            for o in concepts.objects {
                let inst = o.instances.map { String(format: "%.2f %@ %@", $0.score, $0.size, $0.position) }.joined(separator: "; ")
                print(pad(o.word, 16) + pad("\(o.count)", 7) + pad(String(format: "%.2f", o.score), 7) + inst)
            }
            if concepts.objects.isEmpty { print("(no objects above \(threshold))") }
        }
        print(pad("classifier", 26) + pad("prob", 7) + "word")
        for t in classification.top {
            let word = ImageNetLabels.captionWord(t.index)
            let used = concepts.labels.contains { $0.imagenetLabel == t.label }
            print(pad(t.label, 26) + pad(String(format: "%.2f", t.probability), 7) + (word.isEmpty ? "-" : word) + (used ? "" : " (not used)"))
        }
        print("concepts: " + concepts.words.joined(separator: ", "))
        if let draw { print("wrote \(draw)") }
    }
}

/// `swiftcap bench concepts`: per-stage medians of the visual-concept stages.
struct BenchConcepts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concepts",
        abstract: "Per-stage medians (decode, preprocess, detector, classifier) of the concept extractor, with onnxruntime peers.")

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Photo to time (default: the first coco-dev photo in the shared folder).") var image: String?
    @Option(help: "Timed repetitions per stage (median reported).") var runs = 20
    @Option(help: "Warm-up repetitions per stage.") var warmup = 3
    @Option(help: "Python with onnxruntime: runs scripts/bench_concepts_peers.py with the same thread count for the ratio column.")
    var peerPython: String?
    @Flag(help: "Print where the detector's time goes (per op kind).") var profile = false

    func run() throws {
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be at least 1") }
        let device = compute.device
        let paths = AssetPaths.fromEnvironment()
        print("threads: \(device.threads), gemm: \(device.gemm.name)")
        let photo = image.map { URL(fileURLWithPath: $0) } ?? paths.sharedFile("eval/coco-dev/images/000000000139.jpg")
        let data = try Data(contentsOf: photo)
        let decoder = ImageDecoder()
        let picture = try decoder.decode(data, name: photo.lastPathComponent)
        print("photo: \(photo.lastPathComponent) \(picture.width)x\(picture.height)")
        let detector = try PicoDet(contentsOf: paths.sharedFile(PicoDet.sharedRelativePath))
        let classifier = try EfficientNetLite0(contentsOf: paths.asset(EfficientNetLite0.assetRelativePath))
        let detIn = try detector.preprocess(picture, device: device)
        let clsIn = try classifier.preprocess(picture, device: device)
        let raw = try detector.rawOutputs(detIn, device: device)

        var rows: [(String, [Double], String?)] = []
        rows.append(("decode (JPEG)", try time { _ = try decoder.decode(data, name: photo.lastPathComponent) }, nil))
        rows.append(("preprocess detector (416x416)", try time { _ = try detector.preprocess(picture, device: device) }, nil))
        rows.append(("detector network (PicoDet-S 416)", try time { _ = try detector.rawOutputs(detIn, device: device) }, "detector"))
        rows.append(("detector decode + NMS", try time {
            _ = detector.decode(scores: raw.scores, boxes: raw.boxes, imageWidth: picture.width, imageHeight: picture.height)
        }, nil))
        rows.append(("preprocess classifier (224x224)", try time { _ = try classifier.preprocess(picture, device: device) }, nil))
        rows.append(("classifier network (EfficientNet-Lite0)", try time { _ = try classifier.classify(input: clsIn, device: device) }, "classifier"))
        let extractor = ConceptExtractor(detector: detector, classifier: classifier)
        rows.append(("all stages (decode .. concepts)", try time {
            _ = try extractor.extract(try decoder.decode(data, name: photo.lastPathComponent), device: device)
        }, nil))

        var peers: [String: Double] = [:]
        if let peerPython { peers = try runPeers(python: peerPython, threads: device.threads) }
        print(pad("stage", 42) + pad("median ms", 11) + pad("min ms", 9)
              + (peers.isEmpty ? "" : pad("ort median", 12) + pad("ort min", 9) + "ort/swift (medians)"))
        for (name, samples, peer) in rows {
            let s = samples.sorted()
            let med = s[s.count / 2] * 1e3
            var line = pad(name, 42) + pad(String(format: "%.2f", med), 11) + pad(String(format: "%.2f", s[0] * 1e3), 9)
            if let peer, let p = peers[peer], let pm = peers[peer + "-min"] {
                line += pad(String(format: "%.2f", p), 12) + pad(String(format: "%.2f", pm), 9) + String(format: "%.2f", p / med)
            }
            print(line)
        }
        if let p = peers["detector-optimized"], let pm = peers["detector-optimized-min"] {
            print("onnxruntime detector with initializers removed from the graph inputs: median \(String(format: "%.2f", p)) ms, min \(String(format: "%.2f", pm)) ms")
        }
        if profile {
            var best: [String: Double] = [:]
            for _ in 0..<runs {
                var byKind: [String: Double] = [:]
                _ = try detector.rawOutputs(detIn, device: device) { kind, seconds in byKind[kind, default: 0] += seconds }
                for (k, v) in byKind { best[k] = min(best[k] ?? .infinity, v) }
            }
            print("detector time by op kind (min over runs):")
            for (k, v) in best.sorted(by: { $0.value > $1.value }) { print("  " + pad(k, 20) + String(format: "%7.2f ms", v * 1e3)) }
            var bestC: [String: Double] = [:]
            for _ in 0..<runs {
                var byKind: [String: Double] = [:]
                _ = try classifier.features(clsIn, device: device) { kind, seconds in byKind[kind, default: 0] += seconds }
                for (k, v) in byKind { bestC[k] = min(bestC[k] ?? .infinity, v) }
            }
            print("classifier time by layer kind (min over runs):")
            for (k, v) in bestC.sorted(by: { $0.value > $1.value }) { print("  " + pad(k, 20) + String(format: "%7.2f ms", v * 1e3)) }
        }
    }

    func time(_ body: () throws -> Void) throws -> [Double] {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return samples
    }

    /// Runs the onnxruntime peer script; returns medians in ms keyed "detector", "detector-optimized", "classifier".
    func runPeers(python: String, threads: Int) throws -> [String: Double] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/bench_concepts_peers.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path, "--threads", "\(threads)", "--runs", "\(runs)", "--warmup", "\(warmup)", "--json"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
              let obj = try JSONSerialization.jsonObject(with: data) as? [String: [String: Double]] else {
            printError("peer script failed (status \(p.terminationStatus)); no onnxruntime column")
            return [:]
        }
        var r: [String: Double] = [:]
        for (k, v) in obj {
            guard let m = v["median_ms"], let mn = v["min_ms"] else { continue }
            let key: String
            if k.hasPrefix("detector network (onnxruntime, as shipped") { key = "detector" }
            else if k.hasPrefix("detector network") { key = "detector-optimized" }
            else if k.hasPrefix("classifier") { key = "classifier" }
            else { continue }
            r[key] = m
            r[key + "-min"] = mn
        }
        return r
    }
}
