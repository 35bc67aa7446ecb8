import Foundation

/// JSON text written by hand where field order or speed matters (safetensors headers, eval output, batch
/// records). One string escaper for all of them.
public enum JSONText {
    /// A JSON string literal: quote, backslash and control characters escaped (U+2028/U+2029 too, so the
    /// text is also safe inside JavaScript); everything else as UTF-8.
    public static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029:
                out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
