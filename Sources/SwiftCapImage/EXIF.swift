import Foundation

/// EXIF orientation (TIFF tag 0x0112) and the JPEG APP1 segment that carries it.
public enum EXIF {
    /// The payload of the first APP1 segment starting with "Exif\0\0" (the TIFF structure that
    /// follows the 6-byte identifier), scanning the JPEG markers up to the first SOS. Nil when
    /// absent or when the marker structure is malformed (decoding reports that separately).
    public static func jpegExifPayload(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let n = bytes.count
        guard n >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var i = 2
        while i + 4 <= n {
            guard bytes[i] == 0xFF else { return nil }
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }             // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return nil } // start of scan / end of image
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length >= 2, i + 2 + length <= n else { return nil }
            let start = i + 4, end = i + 2 + length
            if marker == 0xE1, end - start >= 6,
               bytes[start] == 0x45, bytes[start + 1] == 0x78, bytes[start + 2] == 0x69, bytes[start + 3] == 0x66,
               bytes[start + 4] == 0, bytes[start + 5] == 0 {
                return UnsafeRawBufferPointer(rebasing: bytes[(start + 6)..<end])
            }
            i = end
        }
        return nil
    }

    /// Orientation 1...8 from a TIFF structure ("II*\0" or "MM\0*" header, IFD0 entries); nil when
    /// the tag is absent, the structure is malformed, or the value is outside 1...8.
    public static func orientation(tiff t: UnsafeRawBufferPointer) -> Int? {
        let n = t.count
        guard n >= 8 else { return nil }
        let little: Bool
        if t[0] == 0x49, t[1] == 0x49 { little = true } else if t[0] == 0x4D, t[1] == 0x4D { little = false } else { return nil }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= n else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for e in 0..<count {
            let entry = ifd + 2 + e * 12
            guard let tag = u16(entry) else { return nil }
            guard tag == 0x0112 else { continue }
            guard let type = u16(entry + 2), let values = u32(entry + 4), values >= 1 else { return nil }
            let value: Int?
            switch type {
            case 3: value = u16(entry + 8)          // SHORT, stored in the value field
            case 4: value = u32(entry + 8)          // LONG (non-standard but seen)
            default: value = nil
            }
            guard let v = value, (1...8).contains(v) else { return nil }
            return v
        }
        return nil
    }

    /// Orientation of a JPEG held in memory, nil when it has none.
    public static func jpegOrientation(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let payload = jpegExifPayload(bytes) else { return nil }
        return orientation(tiff: payload)
    }
}
