// swiftcap-memcheck PHOTO|FOLDER ...: the default captioner (one thread) on each photo, as `swiftcap caption`
// runs it; a photo that cannot be captioned prints its error (the error paths are part of what is checked).
// Exit 0 when every photo was captioned or failed with an error, 2 on bad usage.
import Foundation
import SwiftCap

let args = Array(CommandLine.arguments.dropFirst())
guard !args.isEmpty else {
    FileHandle.standardError.write(Data("usage: swiftcap-memcheck PHOTO|FOLDER ...\n".utf8))
    exit(2)
}
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
var photos: [URL] = []
for a in args {
    let u = URL(fileURLWithPath: a)
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: a, isDirectory: &isDir), isDir.boolValue {
        photos += try ImageDecoder.photoFiles(in: u)
    } else {
        photos.append(u)
    }
}
let captioner = try DefaultCaptioner(paths: AssetPaths.fromEnvironment(repositoryRoot: root), device: Device(threads: 1),
                                     model: DefaultCaptioner.defaultModelURL(repositoryRoot: root),
                                     conceptHead: DefaultCaptioner.defaultConceptHeadURL(repositoryRoot: root),
                                     fallBackToRetrieval: true)
for w in captioner.warnings { print("warning: \(w)") }
for photo in photos {
    do {
        print("\(photo.lastPathComponent): \(try captioner.describe(imageAt: photo).caption)")
    } catch {
        print("\(photo.lastPathComponent): error: \(error)")
    }
}
