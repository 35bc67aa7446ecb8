import ArgumentParser
import Foundation
import SwiftCap
import SwiftCapHub

/// Captions `images` with a downloaded published checkpoint in `weights` (layout per docs/captioners.md) and
/// prints one "path<TAB>caption" line per image.
func runPublishedCaptioner(arch: CaptionerArch, weights: URL, images: [URL], options: PublishedCaptionerOptions) throws {
    let captioner = try PublishedCaptioner(arch: arch, weights: weights, options: options)
    for url in images {
        print("\(url.path)\t\(try captioner.caption(imageAt: url).caption)")
    }
}

/// `--model ORG/NAME[@REVISION]`: resolves (fetching what is missing into the hub cache, or offline from it)
/// and returns the architecture and the options pointing at the resolved folders.
func resolveHubCaptioner(_ spec: String, arch: CaptionerArch?, options: PublishedCaptionerOptions)
    throws -> (arch: CaptionerArch, weights: URL, options: PublishedCaptionerOptions)
{
    let repo = try RepoID(parsing: spec)
    let (client, _) = makeHubClient(quiet: true, label: repo.description)
    let line = ProgressLine(label: repo.description)
    client.progress = { line.update($0) }
    let wanted = try arch.map { a -> PublishedArchitecture in
        guard let p = PublishedArchitecture(rawValue: a.rawValue) else { throw ValidationError("--arch \(a.rawValue) is not a hub architecture") }
        return p
    }
    let resolved = try PublishedModels.resolve(repo, client: client, architecture: wanted)
    printError("\(repo): \(resolved.architecture.rawValue) (\(resolved.reason))")
    guard let found = CaptionerArch(rawValue: resolved.architecture.rawValue) else {
        throw ValidationError("\(repo) resolved to \(resolved.architecture.rawValue), which this command cannot run")
    }
    var options = options
    options.clipDirectory = resolved.clip
    options.tokenizerDirectory = resolved.tokenizer
    return (found, resolved.weights, options)
}
