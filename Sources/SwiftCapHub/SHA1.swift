import Foundation

/// SHA-1, only to check small (non-LFS) hub files against their git blob id: sha1("blob <size>\0" + bytes).
/// Not used for anything security-relevant (LFS files are checked with SHA-256).
public struct SHA1 {
    private var h: [UInt32] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    private var buffer = [UInt8]()
    private var length: UInt64 = 0

    public init() {}

    public mutating func update<D: DataProtocol>(_ data: D) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        buffer.append(contentsOf: bytes)
        var i = 0
        while buffer.count - i >= 64 {
            buffer.withUnsafeBytes { block($0.baseAddress! + i) }
            i += 64
        }
        if i > 0 { buffer.removeFirst(i) }
    }

    private mutating func block(_ p: UnsafeRawPointer) {
        var w = [UInt32](repeating: 0, count: 80)
        for t in 0..<16 {
            w[t] = UInt32(p.load(fromByteOffset: 4 * t, as: UInt8.self)) << 24 | UInt32(p.load(fromByteOffset: 4 * t + 1, as: UInt8.self)) << 16
                | UInt32(p.load(fromByteOffset: 4 * t + 2, as: UInt8.self)) << 8 | UInt32(p.load(fromByteOffset: 4 * t + 3, as: UInt8.self))
        }
        func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
        for t in 16..<80 { w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4]
        for t in 0..<80 {
            let (f, k): (UInt32, UInt32)
            switch t {
            case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A827999)
            case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9EBA1)
            case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1BBCDC)
            default: (f, k) = (b ^ c ^ d, 0xCA62C1D6)
            }
            let temp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
            e = d; d = c; c = rotl(b, 30); b = a; a = temp
        }
        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
    }

    public mutating func finalizeHex() -> String {
        let bits = length &* 8
        var pad: [UInt8] = [0x80]
        let rem = Int((length + 1) % 64)
        pad += [UInt8](repeating: 0, count: rem <= 56 ? 56 - rem : 120 - rem)
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        pad.withUnsafeBytes { update($0) }
        return h.map { String(format: "%08x", $0) }.joined()
    }

    /// The git blob id of a file's contents.
    public static func gitBlobID(fileAt url: URL) throws -> String {
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.int64Value ?? 0
        var s = SHA1()
        s.update(Data("blob \(size)\0".utf8))
        let fh = try FileHandle(forReadingFrom: url)
        defer { try? fh.close() }
        while let chunk = try fh.read(upToCount: 1 << 20), !chunk.isEmpty { s.update(chunk) }
        return s.finalizeHex()
    }
}
