import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap features`: caches what the learned concept extractor sees of every photo in a folder
/// (classifier pooled features and the detection summary) to one safetensors file, so training and
/// tuning never run the networks twice.
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cache photo features (EfficientNet-Lite0 pooled, PicoDet summary) of a folder to safetensors.")

    @Option(help: "Folder of .jpg/.jpeg/.png photos.") var images: String
    @Option(help: "Output .safetensors file (written atomically).") var out: String
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let files = try imageFiles(in: URL(fileURLWithPath: images))
        guard !files.isEmpty else { throw EvalFailure("\(images): no .jpg/.jpeg/.png files") }
        let device = compute.device
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        let extractor = try ConceptExtractor.load(paths: paths) { printError("warning: \($0)") }
        var bar = ProgressBar(total: files.count, label: "features")
        let cache = try PhotoFeatureCache.compute(files: files, extractor: extractor, decoder: ImageDecoder(), device: device) { _ in
            bar.advance()
        }
        bar.finish()
        try cache.write(to: URL(fileURLWithPath: out))
        printError("wrote \(out): \(cache.names.count) photos")
    }
}
