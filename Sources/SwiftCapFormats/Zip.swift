import Foundation

/// A minimal ZIP reader for archives of *stored* (uncompressed) entries, such as those written by
/// `torch.save`. Reads the central directory (ZIP64 included) and resolves each entry's data range
/// through its local header, so entries can be used in place from the mapped file.
public struct ZipArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// 0 = stored; anything else is refused when the data is requested.
        public var method: UInt16
        public var compressedSize: Int
        public var uncompressedSize: Int
        public var localHeaderOffset: Int
        public var crc32: UInt32
    }

    public let file: MappedFile
    /// Entries in central-directory order.
    public let entries: [Entry]
    private let index: [String: Int]

    /// True when the file starts with a ZIP local-file-header signature.
    public static func looksLikeZip(_ file: MappedFile) -> Bool {
        (try? file.readLE(UInt32.self, at: 0, what: "signature")) == 0x0403_4b50
    }

    public init(file: MappedFile) throws {
        self.file = file
        let name = file.name
        // End of central directory: 22 bytes + comment (≤ 65535), searched backwards.
        guard file.count >= 22 else { throw FormatError.truncated(file: name, detail: "ZIP archive of \(file.count) bytes has no end-of-central-directory record") }
        var eocd = -1
        var p = file.count - 22
        let lowest = max(0, file.count - 22 - 65535)
        while p >= lowest {
            if try file.readLE(UInt32.self, at: p, what: "EOCD signature") == 0x0605_4b50 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw FormatError.malformed(file: name, detail: "ZIP end-of-central-directory record not found") }
        var total = Int(try file.readLE(UInt16.self, at: eocd + 10, what: "EOCD entry count"))
        var cdSize = Int(try file.readLE(UInt32.self, at: eocd + 12, what: "EOCD directory size"))
        var cdOffset = Int(try file.readLE(UInt32.self, at: eocd + 16, what: "EOCD directory offset"))
        // ZIP64: a locator (20 bytes) just before the EOCD points at the ZIP64 EOCD record.
        if eocd >= 20, try file.readLE(UInt32.self, at: eocd - 20, what: "ZIP64 locator") == 0x0706_4b50 {
            let z64 = try file.readLE(UInt64.self, at: eocd - 12, what: "ZIP64 EOCD offset")
            guard file.count >= 56, z64 <= UInt64(file.count - 56) else {
                throw FormatError.malformed(file: name, detail: "ZIP64 end-of-central-directory offset \(z64) lies outside the file")
            }
            let z = Int(z64)
            guard try file.readLE(UInt32.self, at: z, what: "ZIP64 EOCD signature") == 0x0606_4b50 else {
                throw FormatError.malformed(file: name, detail: "ZIP64 end-of-central-directory record has a bad signature at byte \(z)")
            }
            let t = try file.readLE(UInt64.self, at: z + 32, what: "ZIP64 entry count")
            let s = try file.readLE(UInt64.self, at: z + 40, what: "ZIP64 directory size")
            let o = try file.readLE(UInt64.self, at: z + 48, what: "ZIP64 directory offset")
            guard t <= UInt64(file.count), s <= UInt64(file.count), o <= UInt64(file.count) else {
                throw FormatError.malformed(file: name, detail: "ZIP64 directory (\(t) entries, \(s) bytes at \(o)) does not fit in the file")
            }
            total = Int(t); cdSize = Int(s); cdOffset = Int(o)
        }
        try file.checkRange(offset: cdOffset, length: cdSize, what: "ZIP central directory")
        guard total <= cdSize / 46 else {
            throw FormatError.malformed(file: name, detail: "ZIP central directory of \(cdSize) bytes cannot hold \(total) entries")
        }
        var list: [Entry] = []
        list.reserveCapacity(total)
        var q = cdOffset
        let cdEnd = cdOffset + cdSize
        for i in 0..<total {
            guard q + 46 <= cdEnd else { throw FormatError.truncated(file: name, detail: "ZIP central directory entry \(i) runs past the directory end") }
            guard try file.readLE(UInt32.self, at: q, what: "central header") == 0x0201_4b50 else {
                throw FormatError.malformed(file: name, detail: "ZIP central directory entry \(i) at byte \(q) has a bad signature")
            }
            let flags = try file.readLE(UInt16.self, at: q + 8, what: "flags")
            let method = try file.readLE(UInt16.self, at: q + 10, what: "method")
            let crc = try file.readLE(UInt32.self, at: q + 16, what: "crc")
            var csize = UInt64(try file.readLE(UInt32.self, at: q + 20, what: "compressed size"))
            var usize = UInt64(try file.readLE(UInt32.self, at: q + 24, what: "size"))
            let nameLen = Int(try file.readLE(UInt16.self, at: q + 28, what: "name length"))
            let extraLen = Int(try file.readLE(UInt16.self, at: q + 30, what: "extra length"))
            let commentLen = Int(try file.readLE(UInt16.self, at: q + 32, what: "comment length"))
            var local = UInt64(try file.readLE(UInt32.self, at: q + 42, what: "local header offset"))
            let next = q + 46 + nameLen + extraLen + commentLen
            guard next <= cdEnd else { throw FormatError.truncated(file: name, detail: "ZIP central directory entry \(i) runs past the directory end") }
            let entryName = String(decoding: try file.slice(offset: q + 46, length: nameLen, what: "entry name"), as: UTF8.self)
            if flags & 1 != 0 {
                throw FormatError.unsupported(file: name, detail: "ZIP entry '\(entryName)' is encrypted")
            }
            // ZIP64 extended information (id 0x0001): the 64-bit values whose 32-bit fields are 0xFFFFFFFF, in order.
            var e = q + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = try file.readLE(UInt16.self, at: e, what: "extra id")
                let size = Int(try file.readLE(UInt16.self, at: e + 2, what: "extra size"))
                guard e + 4 + size <= extraEnd else { break }
                if id == 0x0001 {
                    var f = e + 4
                    func take() throws -> UInt64 {
                        guard f + 8 <= e + 4 + size else {
                            throw FormatError.malformed(file: name, detail: "ZIP64 extra field of entry '\(entryName)' is too short")
                        }
                        defer { f += 8 }
                        return try file.readLE(UInt64.self, at: f, what: "ZIP64 extra")
                    }
                    if usize == 0xFFFF_FFFF { usize = try take() }
                    if csize == 0xFFFF_FFFF { csize = try take() }
                    if local == 0xFFFF_FFFF { local = try take() }
                }
                e += 4 + size
            }
            guard csize <= UInt64(file.count), usize <= UInt64(Int.max / 2), local <= UInt64(file.count) else {
                throw FormatError.malformed(file: name, detail: "ZIP entry '\(entryName)' has sizes or offset beyond the file")
            }
            list.append(Entry(name: entryName, method: method, compressedSize: Int(csize), uncompressedSize: Int(usize),
                              localHeaderOffset: Int(local), crc32: crc))
            q = next
        }
        entries = list
        var idx: [String: Int] = [:]
        for (i, en) in list.enumerated() where idx[en.name] == nil { idx[en.name] = i }
        index = idx
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Absolute byte range of a stored entry's data, checked against the file.
    public func dataRange(_ entry: Entry) throws -> Range<Int> {
        let name = file.name
        guard entry.method == 0 else {
            throw FormatError.unsupported(file: name, detail: "ZIP entry '\(entry.name)' is compressed (method \(entry.method)); only stored entries are read")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw FormatError.malformed(file: name, detail: "stored ZIP entry '\(entry.name)' has compressed size \(entry.compressedSize) != size \(entry.uncompressedSize)")
        }
        let h = entry.localHeaderOffset
        guard try file.readLE(UInt32.self, at: h, what: "local header of '\(entry.name)'") == 0x0403_4b50 else {
            throw FormatError.malformed(file: name, detail: "ZIP local header of '\(entry.name)' at byte \(h) has a bad signature")
        }
        let n = Int(try file.readLE(UInt16.self, at: h + 26, what: "local name length"))
        let x = Int(try file.readLE(UInt16.self, at: h + 28, what: "local extra length"))
        let start = h + 30 + n + x
        try file.checkRange(offset: start, length: entry.uncompressedSize, what: "data of ZIP entry '\(entry.name)'")
        return start..<(start + entry.uncompressedSize)
    }

    /// A copy of a stored entry's bytes.
    public func data(_ entry: Entry) throws -> [UInt8] {
        let r = try dataRange(entry)
        return Array(try file.slice(offset: r.lowerBound, length: r.count, what: entry.name))
    }
}
