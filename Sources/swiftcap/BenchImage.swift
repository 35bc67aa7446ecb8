import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench image`: images decoded + preprocessed per second on a folder of photos
/// (default: the coco-dev photos in the shared folder), per preprocessing recipe.
struct BenchImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Images decoded + preprocessed per second, per recipe (median of runs).")

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Folder of JPEG/PNG photos (default: <shared>/eval/coco-dev/images).") var dir: String?
    @Option(help: "Timed passes over the folder per recipe (median reported).") var runs = 5

    func run() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        let folder = dir.map { URL(fileURLWithPath: $0) }
            ?? AssetPaths.fromEnvironment().sharedFile("eval/coco-dev/images")
        let files: [URL]
        do { files = try ImageDecoder.photoFiles(in: folder) } catch {
            throw ValidationError("cannot list \(folder.path): \(error.localizedDescription) (use --dir or SWIFTCAP_SHARED)")
        }
        guard !files.isEmpty else { throw ValidationError("no .jpg/.jpeg/.png files in \(folder.path)") }
        let device = compute.device
        let decoder = ImageDecoder()
        print("folder: \(folder.path) (\(files.count) images), threads: \(device.threads), runs: \(runs)")

        // One untimed pass warms the page cache and the allocator.
        for f in files { _ = try device.preprocess(try decoder.decode(contentsOf: f), recipe: .clip) }

        func median(_ body: () throws -> Void) rethrows -> Double {
            var rates: [Double] = []
            for _ in 0..<runs {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                rates.append(Double(files.count) / seconds)
            }
            rates.sort()
            return rates[rates.count / 2]
        }
        print(pad("stage", 34) + pad("output", 18) + pad("images/s", 12) + "ms/image")
        let decodeRate = try median { for f in files { _ = try decoder.decode(contentsOf: f) } }
        print(pad("decode only", 34) + pad("RGB8", 18) + pad(String(format: "%.1f", decodeRate), 12)
              + String(format: "%.2f", 1000 / decodeRate))
        for recipe in PreprocessRecipe.all {
            let rate = try median {
                for f in files { _ = try device.preprocess(try decoder.decode(contentsOf: f), recipe: recipe) }
            }
            print(pad("decode + \(recipe.name)", 34) + pad("\(recipe.outputShape)", 18)
                  + pad(String(format: "%.1f", rate), 12) + String(format: "%.2f", 1000 / rate))
        }
    }
}
