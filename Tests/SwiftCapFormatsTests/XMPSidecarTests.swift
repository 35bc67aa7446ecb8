import Foundation
import XCTest
import SwiftCapTestSupport
@testable import SwiftCapFormats

/// XMP sidecars written by `XMPSidecar`, read back with the real exiftool (libimage-exiftool-perl).
final class XMPSidecarTests: XCTestCase {
    var dir: URL!
    var photo: URL!
    let photoBytes = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("xmp-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        photo = dir.appendingPathComponent("photo.jpg")
        try photoBytes.write(to: photo)
    }

    override func tearDownWithError() throws {
        if let d = dir { try? FileManager.default.removeItem(at: d) }
    }

    // MARK: - exiftool

    static let exiftool: String? = {
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(d)/exiftool"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    func requireExiftool() throws -> String {
        guard let p = Self.exiftool else {
            throw missingInput("exiftool not on PATH (Debian libimage-exiftool-perl; scripts/install-deps.sh)")
        }
        return p
    }

    /// Runs exiftool; fails the test on a non-zero exit. Returns stdout.
    @discardableResult
    func exiftool(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try requireExiftool())
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "exiftool \(args): \(String(decoding: errData, as: UTF8.self))", file: file, line: line)
        return data
    }

    /// exiftool -j output for one file, as a dictionary.
    func exifJSON(_ url: URL, _ tags: [String]) throws -> [String: Any] {
        let data = try exiftool(["-j"] + tags + [url.path])
        let obj = try JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        return try XCTUnwrap(obj?.first)
    }

    static let captionTags = ["-XMP-dc:Description", "-XMP-iptcCore:AltTextAccessibility", "-XMP-dc:Subject"]

    /// A list tag as strings (exiftool gives a single item as a scalar, numbers as numbers).
    func strings(_ v: Any?) -> [String] {
        switch v {
        case nil: return []
        case let a as [Any]: return a.map { "\($0)" }
        case let x?: return ["\(x)"]
        }
    }

    /// The caption fields as exiftool reads them.
    func exifFields(_ url: URL) throws -> XMPFields {
        let j = try exifJSON(url, Self.captionTags)
        return XMPFields(description: j["Description"].map { "\($0)" } ?? "",
                         altText: j["AltTextAccessibility"].map { "\($0)" } ?? "",
                         keywords: strings(j["Subject"]))
    }

    func assertValidXMP(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let j = try exifJSON(url, ["-validate", "-warning", "-a"])
        XCTAssertEqual(j["Validate"] as? String, "OK", "exiftool -validate: \(j)", file: file, line: line)
    }

    func assertPhotoUntouched(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try Data(contentsOf: photo), photoBytes, "the photo changed", file: file, line: line)
    }

    func assertNoTemporaryFiles(file: StaticString = #filePath, line: UInt = #line) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertTrue(names.allSatisfy { !$0.hasSuffix(".tmp") }, "temporary files left: \(names)", file: file, line: line)
    }

    // MARK: - Tests

    func testSidecarNames() {
        let p = URL(fileURLWithPath: "/photos/2024/IMG_0001.v2.JPG")
        XCTAssertEqual(SidecarNaming.appended.sidecarURL(for: p).path, "/photos/2024/IMG_0001.v2.JPG.xmp")
        XCTAssertEqual(SidecarNaming.stem.sidecarURL(for: p).path, "/photos/2024/IMG_0001.v2.xmp")
        XCTAssertEqual(SidecarNaming(rawValue: "stem"), .stem)
        XCTAssertEqual(SidecarNaming(rawValue: "appended"), .appended)
    }

    func testFreshSidecarBothNamings() throws {
        _ = try requireExiftool()
        let fields = XMPFields(description: "A dog running on a sandy beach.", altText: "Brown dog mid-stride on wet sand",
                               keywords: ["dog", "beach", "sand"])
        for naming in SidecarNaming.allCases {
            let url = naming.sidecarURL(for: photo)
            XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
            try XMPSidecar.write(fields, to: url)
            XCTAssertEqual(try exifFields(url), fields, "\(naming)")
            XCTAssertEqual(try XMPSidecar.read(url), fields, "\(naming)")
            try assertValidXMP(url)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("photo.jpg.xmp").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("photo.xmp").path))
        XCTAssertNil(try XMPSidecar.read(dir.appendingPathComponent("absent.xmp")))
        try assertPhotoUntouched()
        try assertNoTemporaryFiles()
    }

    func testSpecialCharactersAndNonASCII() throws {
        _ = try requireExiftool()
        let url = SidecarNaming.appended.sidecarURL(for: photo)
        let fields = XMPFields(
            description: "Café in 日本 🐶 <b>&amp;</b> \"double\" 'single' a > b\ttab\nsecond line",
            altText: "alt <&>\"' ]]> end",
            keywords: ["é", "日本", "🐶", "<&>\"'", "a,b;c"])
        try XMPSidecar.write(fields, to: url)
        XCTAssertEqual(try exifFields(url), fields)
        XCTAssertEqual(try XMPSidecar.read(url), fields)
        try assertValidXMP(url)
        // The bytes are UTF-8 (not character references) for non-ASCII text.
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.contains("日本") && text.contains("🐶") && text.contains("&lt;b&gt;&amp;amp;&lt;/b&gt;"), text)

        // Control characters XML 1.0 cannot carry are dropped; CR survives as a reference.
        try XMPSidecar.write(XMPFields(description: "bell\u{7}null\u{0}esc\u{1B}cr\r!"), to: url)
        XCTAssertEqual(try exifFields(url).description, "bellnullesccr\r!")
        XCTAssertEqual(try XMPSidecar.read(url)?.description, "bellnullesccr\r!")
        try assertValidXMP(url)
    }

    func testMergeIntoExiftoolSidecarKeepsOtherTags() throws {
        let url = SidecarNaming.stem.sidecarURL(for: photo)
        try exiftool(["-q", "-o", url.path, "-XMP-xmp:Rating=4", "-XMP-dc:Subject=holiday", "-XMP-dc:Subject=dog",
                      "-XMP-dc:Title=Trip", "-XMP-dc:Description=old caption", "-XMP-dc:Description-de=alte Beschreibung",
                      "-XMP-dc:Creator=Ann"])
        let before = try String(contentsOf: url, encoding: .utf8)
        let fields = XMPFields(description: "new caption", altText: "new alt", keywords: ["dog", "beach"])
        try XMPSidecar.write(fields, to: url)

        let j = try exifJSON(url, Self.captionTags + ["-XMP-xmp:Rating", "-XMP-dc:Title", "-XMP-dc:Creator", "-XMP-dc:Description-de"])
        XCTAssertEqual(j["Rating"] as? Int, 4)
        XCTAssertEqual(j["Title"] as? String, "Trip")
        XCTAssertEqual(strings(j["Creator"]), ["Ann"])
        XCTAssertEqual(j["Description"] as? String, "new caption")
        XCTAssertEqual(j["Description-de"] as? String, "alte Beschreibung", "other languages are kept")
        XCTAssertEqual(j["AltTextAccessibility"] as? String, "new alt")
        XCTAssertEqual(strings(j["Subject"]), ["holiday", "dog", "beach"], "existing keywords first, no duplicates")
        try assertValidXMP(url)

        // Everything outside the edited values is kept byte for byte: the xpacket wrapper and the xmp block.
        let after = try String(contentsOf: url, encoding: .utf8)
        let xmpBlock = try XCTUnwrap(before.range(of: "<rdf:Description rdf:about=''\n  xmlns:xmp=").map { before[$0.lowerBound...] })
        let xmpBlockEnd = try XCTUnwrap(xmpBlock.range(of: "</rdf:Description>"))
        XCTAssertTrue(after.contains(xmpBlock[..<xmpBlockEnd.upperBound]))
        XCTAssertTrue(after.hasPrefix("<?xpacket begin='\u{FEFF}' id='W5M0MpCehiHzreSzNTczkc9d'?>"))
        XCTAssertTrue(after.hasSuffix("<?xpacket end='w'?>"))
        try assertPhotoUntouched()
    }

    func testReadsSidecarWrittenByExiftool() throws {
        let url = SidecarNaming.appended.sidecarURL(for: photo)
        try exiftool(["-q", "-o", url.path, "-XMP-dc:Description=Zwei Hunde & eine <Katze>", "-XMP-iptcCore:AltTextAccessibility=Alt 日本",
                      "-XMP-dc:Subject=cat", "-XMP-dc:Subject=dogs"])
        XCTAssertEqual(try XMPSidecar.read(url),
                       XMPFields(description: "Zwei Hunde & eine <Katze>", altText: "Alt 日本", keywords: ["cat", "dogs"]))
    }

    static let darktableSidecar = """
        <?xml version="1.0" encoding="UTF-8"?>
        <x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
         <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
          <rdf:Description rdf:about=""
            xmlns:xmp="http://ns.adobe.com/xap/1.0/"
            xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
            xmlns:dc="http://purl.org/dc/elements/1.1/"
            xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
            xmlns:darktable="http://darktable.sf.net/"
            xmp:Rating="3"
            xmpMM:DerivedFrom="IMG_1234.CR2"
            darktable:import_timestamp="63838137600000000"
            darktable:xmp_version="5"
            darktable:raw_params="0"
            darktable:auto_presets_applied="1"
            darktable:history_end="2"
            darktable:iop_order_version="4">
           <dc:subject>
            <rdf:Bag>
             <rdf:li>landscape</rdf:li>
            </rdf:Bag>
           </dc:subject>
           <lr:hierarchicalSubject>
            <rdf:Bag>
             <rdf:li>places|beach</rdf:li>
            </rdf:Bag>
           </lr:hierarchicalSubject>
           <darktable:masks_history>
            <rdf:Seq/>
           </darktable:masks_history>
           <darktable:history>
            <rdf:Seq>
             <rdf:li
              darktable:num="0"
              darktable:operation="exposure"
              darktable:enabled="1"
              darktable:modversion="6"
              darktable:params="0000000000000000"
              darktable:multi_name=""
              darktable:multi_priority="0"
              darktable:blendop_version="11"
              darktable:blendop_params="gz11eJxjYGBgkGAAgRNODGiAEV0AJ2iwh+CRxQGzoBYF"/>
             <rdf:li
              darktable:num="1"
              darktable:operation="colorin"
              darktable:enabled="1"
              darktable:modversion="7"
              darktable:params="gz48eJzjZhgFowABWAYYAwAbNAAF"
              darktable:multi_name=""
              darktable:multi_priority="0"
              darktable:blendop_version="11"
              darktable:blendop_params="gz11eJxjYGBgkGAAgRNODGiAEV0AJ2iwh+CRxQGzoBYF"/>
            </rdf:Seq>
           </darktable:history>
          </rdf:Description>
         </rdf:RDF>
        </x:xmpmeta>

        """

    func testDarktableSidecarKeepsItsElements() throws {
        let url = SidecarNaming.appended.sidecarURL(for: photo)
        try Data(Self.darktableSidecar.utf8).write(to: url)
        let fields = XMPFields(description: "Sunset over the dunes", altText: "Orange sky above sand dunes", keywords: ["sunset", "landscape"])
        try XMPSidecar.write(fields, to: url)
        let after = try String(contentsOf: url, encoding: .utf8)

        // Byte level: the original with only our additions, nothing removed or reformatted.
        let bagEnd = "     <rdf:li>landscape</rdf:li>\n"
        let expectedPrefix = Self.darktableSidecar.components(separatedBy: bagEnd)[0] + bagEnd + "     <rdf:li>sunset</rdf:li>\n"
        XCTAssertTrue(after.hasPrefix(expectedPrefix), after)
        let historyStart = try XCTUnwrap(Self.darktableSidecar.range(of: "   <lr:hierarchicalSubject>"))
        let historyEnd = try XCTUnwrap(Self.darktableSidecar.range(of: "  </rdf:Description>\n"))
        XCTAssertTrue(after.contains(Self.darktableSidecar[historyStart.lowerBound..<historyEnd.upperBound]))
        XCTAssertTrue(after.hasSuffix(" </rdf:RDF>\n</x:xmpmeta>\n"))

        // exiftool: the darktable and other tags read as before, ours are there.
        let j = try exifJSON(url, Self.captionTags + ["-struct", "-XMP-xmp:Rating", "-XMP-xmpMM:DerivedFrom",
                                                      "-XMP-lr:HierarchicalSubject", "-XMP-darktable:all"])
        XCTAssertEqual(j["Rating"] as? Int, 3)
        XCTAssertEqual(j["DerivedFrom"] as? String, "IMG_1234.CR2")
        XCTAssertEqual(strings(j["HierarchicalSubject"]), ["places|beach"])
        XCTAssertEqual(j["History_end"] as? Int, 2)
        XCTAssertEqual(j["Import_timestamp"] as? String, "63838137600000000")
        let history = try XCTUnwrap(j["History"] as? [[String: Any]])
        XCTAssertEqual(history.map { $0["Operation"] as? String }, ["exposure", "colorin"])
        XCTAssertEqual(history.map { $0["Params"] as? String }, ["0000000000000000", "gz48eJzjZhgFowABWAYYAwAbNAAF"])
        XCTAssertEqual(try exifFields(url), XMPFields(description: fields.description, altText: fields.altText,
                                                      keywords: ["landscape", "sunset"]))
        try assertPhotoUntouched()
    }

    func testRewriteIsIdempotent() throws {
        let url = SidecarNaming.appended.sidecarURL(for: photo)
        let fields = XMPFields(description: "two cats", altText: "two grey cats on a sofa", keywords: ["cat", "sofa", "cat"])
        try XMPSidecar.write(fields, to: url)
        let first = try Data(contentsOf: url)
        try XMPSidecar.write(fields, to: url)
        XCTAssertEqual(try Data(contentsOf: url), first, "a second identical write changes nothing")
        XCTAssertEqual(try XMPSidecar.read(url)?.keywords, ["cat", "sofa"])

        // A new caption replaces the old values; keywords are a union, in order.
        let second = XMPFields(description: "three cats", altText: "three cats", keywords: ["sofa", "indoor"])
        try XMPSidecar.write(second, to: url)
        try XMPSidecar.write(second, to: url)
        let expected = XMPFields(description: "three cats", altText: "three cats", keywords: ["cat", "sofa", "indoor"])
        XCTAssertEqual(try XMPSidecar.read(url), expected)
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text.components(separatedBy: "<dc:description>").count, 2, "one dc:description: \(text)")
        XCTAssertEqual(text.components(separatedBy: "x-default").count, 3, "one x-default per property: \(text)")
        if Self.exiftool != nil {
            XCTAssertEqual(try exifFields(url), expected)
            try assertValidXMP(url)
        }
        try assertNoTemporaryFiles()
    }

    func testUnparsableSidecarIsLeftUntouched() throws {
        let url = SidecarNaming.appended.sidecarURL(for: photo)
        let bad: [(String, String)] = [
            ("truncated", String(Self.darktableSidecar.prefix(700))),
            ("not XML", "Rating=4\nTitle=Trip\n"),
            ("mismatched tags", "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><a></b></x:xmpmeta>"),
            ("unknown entity", Self.darktableSidecar.replacingOccurrences(of: "landscape", with: "&nbsp;landscape")),
            ("unbound prefix", Self.darktableSidecar.replacingOccurrences(of: "xmlns:lr=", with: "xmlns:lx=")),
            ("empty", ""),
            ("UTF-16", "\u{FEFF}<x/>"),
        ]
        for (name, text) in bad {
            let bytes = name == "UTF-16" ? Data([0xFF, 0xFE, 0x3C, 0x00, 0x78, 0x00, 0x2F, 0x00, 0x3E, 0x00]) : Data(text.utf8)
            try bytes.write(to: url)
            XCTAssertThrowsError(try XMPSidecar.write(XMPFields(description: "x", keywords: ["k"]), to: url), name) { error in
                guard case XMPSidecarError.unparsable(let file, let reason)? = error as? XMPSidecarError else {
                    return XCTFail("\(name): \(error)")
                }
                XCTAssertEqual(file, url.path, name)
                XCTAssertFalse(reason.isEmpty)
                XCTAssertTrue("\(error)".contains(url.path), name)
            }
            XCTAssertEqual(try Data(contentsOf: url), bytes, "\(name): the sidecar changed")
            XCTAssertThrowsError(try XMPSidecar.read(url), name)
        }
        // Well-formed XML that is not an XMP packet: also left alone.
        let notXMP = Data("<?xml version=\"1.0\"?>\n<settings><rating>4</rating></settings>\n".utf8)
        try notXMP.write(to: url)
        XCTAssertThrowsError(try XMPSidecar.write(XMPFields(description: "x"), to: url)) { error in
            XCTAssertEqual(error as? XMPSidecarError, .notXMP(file: url.path, reason: "no rdf:RDF element"))
        }
        XCTAssertEqual(try Data(contentsOf: url), notXMP)
        try assertPhotoUntouched()
        try assertNoTemporaryFiles()
    }

    func testPermissionsAndSymlinkKept() throws {
        let url = SidecarNaming.appended.sidecarURL(for: photo)
        try XMPSidecar.write(XMPFields(description: "first"), to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: url.path)
        try XMPSidecar.write(XMPFields(description: "second"), to: url)
        let perms = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
        XCTAssertEqual(perms, 0o640)
        XCTAssertEqual(try XMPSidecar.read(url)?.description, "second")

        // A sidecar that is a symbolic link: the link stays, its target gets the new content.
        let real = dir.appendingPathComponent("elsewhere.xmp")
        try FileManager.default.moveItem(at: url, to: real)
        try FileManager.default.createSymbolicLink(at: url, withDestinationURL: real)
        try XMPSidecar.write(XMPFields(description: "third"), to: url)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: url.path), real.path)
        XCTAssertEqual(try XMPSidecar.read(real)?.description, "third")
        try assertNoTemporaryFiles()
    }

    func testUnchangedTreeSerializesToTheSameBytes() throws {
        let samples = [
            Self.darktableSidecar,
            "\u{FEFF}<?xpacket begin='\u{FEFF}' id='W5M0MpCehiHzreSzNTczkc9d'?>\n<x:xmpmeta xmlns:x='adobe:ns:meta/'>\n"
                + "<!-- comment -->\n<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description rdf:about=''"
                + " xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:title><rdf:Alt><rdf:li xml:lang='x-default'>"
                + "a &amp; b &#233; <![CDATA[<raw>]]></rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF>\n</x:xmpmeta>\n"
                + "<?xpacket end='w'?>",
        ]
        for s in samples {
            let bytes = [UInt8](s.utf8)
            XCTAssertEqual(try XMLTree.parse(bytes).serialize(), bytes)
        }
        // Merging nothing changes nothing.
        let d = Data(Self.darktableSidecar.utf8)
        XCTAssertEqual(try XMPSidecar.merged(XMPFields(), into: d, file: "x"), d)
        XCTAssertEqual(try XMPSidecar.fields(in: d, file: "x"), XMPFields(keywords: ["landscape"]))
    }

    func testPropertiesWrittenAsAttributesOrSimpleValues() throws {
        // Some writers put single values in attributes or as plain text; they are read and converted.
        let src = """
            <x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
             <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
                xmp:Rating="5" dc:subject="holiday"/>
             <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
              <dc:description>plain old caption</dc:description>
             </rdf:Description>
            </rdf:RDF></x:xmpmeta>
            """
        XCTAssertEqual(try XMPSidecar.fields(in: Data(src.utf8), file: "x"),
                       XMPFields(description: "plain old caption", keywords: ["holiday"]))
        let out = try XMPSidecar.merged(XMPFields(description: "new", altText: "alt", keywords: ["sea"]), into: Data(src.utf8), file: "x")
        XCTAssertEqual(try XMPSidecar.fields(in: out, file: "x"),
                       XMPFields(description: "new", altText: "alt", keywords: ["holiday", "sea"]))
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.contains("xmp:Rating=\"5\""), text)
        XCTAssertFalse(text.contains("dc:subject=\""), text)
        if Self.exiftool != nil {
            let url = dir.appendingPathComponent("attrs.xmp")
            try out.write(to: url)
            let j = try exifJSON(url, Self.captionTags + ["-XMP-xmp:Rating"])
            XCTAssertEqual(j["Rating"] as? Int, 5)
            XCTAssertEqual(try exifFields(url), XMPFields(description: "new", altText: "alt", keywords: ["holiday", "sea"]))
            try assertValidXMP(url)
        }
    }

    func testLanguageAlternativesAndUnusualShapes() throws {
        let rdfNS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
        // No x-default yet: it is inserted first, the German stays. An empty x-default element is filled.
        let src = """
            <x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="\(rdfNS)">
             <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
                xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">
              <dc:description>
               <rdf:Alt>
                <rdf:li xml:lang="de">Ein Hund</rdf:li>
               </rdf:Alt>
              </dc:description>
              <Iptc4xmpCore:AltTextAccessibility><rdf:Alt><rdf:li xml:lang="x-default"/></rdf:Alt></Iptc4xmpCore:AltTextAccessibility>
              <dc:subject><rdf:Bag/></dc:subject>
             </rdf:Description>
            </rdf:RDF></x:xmpmeta>
            """
        let out = try XMPSidecar.merged(XMPFields(description: "A dog", altText: "Alt", keywords: ["dog"]), into: Data(src.utf8), file: "x")
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.contains("<rdf:li xml:lang=\"x-default\">A dog</rdf:li>\n    <rdf:li xml:lang=\"de\">Ein Hund</rdf:li>"), text)
        XCTAssertEqual(try XMPSidecar.fields(in: out, file: "x"), XMPFields(description: "A dog", altText: "Alt", keywords: ["dog"]))

        // An empty self-closing rdf:RDF.
        let bare = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"\(rdfNS)\"/></x:xmpmeta>"
        let out2 = try XMPSidecar.merged(XMPFields(description: "d", keywords: ["k"]), into: Data(bare.utf8), file: "x")
        XCTAssertEqual(try XMPSidecar.fields(in: out2, file: "x"), XMPFields(description: "d", keywords: ["k"]))
        // rdf bound as the default namespace (namespace-aware here; exiftool reads XMP by prefix, so not checked there).
        let dflt = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><RDF xmlns=\"\(rdfNS)\"></RDF></x:xmpmeta>"
        let out3 = try XMPSidecar.merged(XMPFields(description: "d", keywords: ["k"]), into: Data(dflt.utf8), file: "x")
        XCTAssertEqual(try XMPSidecar.fields(in: out3, file: "x"), XMPFields(description: "d", keywords: ["k"]))

        if Self.exiftool != nil {
            for (name, data, expected) in [("lang.xmp", out, XMPFields(description: "A dog", altText: "Alt", keywords: ["dog"])),
                                           ("bare.xmp", out2, XMPFields(description: "d", keywords: ["k"]))] {
                let url = dir.appendingPathComponent(name)
                try data.write(to: url)
                XCTAssertEqual(try exifFields(url), expected, name)
            }
            let j = try exifJSON(dir.appendingPathComponent("lang.xmp"), ["-XMP-dc:Description-de"])
            XCTAssertEqual(j["Description-de"] as? String, "Ein Hund")
        }
    }
}
