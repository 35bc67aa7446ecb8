/// RFC 4180 CSV rows (the quoting of Python's `csv` module, excel dialect, QUOTE_MINIMAL).
///
/// A field is quoted when it holds a comma, a double quote, CR or LF; quotes inside are doubled.
/// Rows end with CRLF. The one-empty-field row is written `""` so it does not read back as an
/// empty row (as Python writes it).
public enum CSV {
    public static let lineTerminator = "\r\n"

    /// One field, quoted when needed.
    public static func field(_ s: String) -> String {
        let needsQuotes = s.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }
        guard needsQuotes else { return s }
        // Scalar by scalar: Foundation's replacingOccurrences mishandles strings holding U+0000 (found by
        // fuzzing: the quote after a NUL was not doubled, and ASan saw a heap overflow inside Foundation).
        var out = String.UnicodeScalarView()
        out.append("\"")
        for u in s.unicodeScalars {
            if u == "\"" { out.append("\"") }
            out.append(u)
        }
        out.append("\"")
        return String(out)
    }

    /// One record, terminated with CRLF.
    public static func row(_ fields: [String]) -> String {
        if fields.count == 1 && fields[0].isEmpty { return "\"\"" + lineTerminator }
        return fields.map(field).joined(separator: ",") + lineTerminator
    }

    /// Parses records separated by CRLF, LF or CR (line breaks inside quoted fields are kept).
    /// A blank line is an empty row. Lenient like Python's reader: a quote inside an unquoted field is
    /// literal, text after a closing quote is appended, an unterminated quoted field runs to the end.
    public static func parseRows(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = String.UnicodeScalarView()
        var inQuotes = false
        var fieldStarted = false  // something (even "") was read for the current field
        var rowStarted = false
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?

        func endField() {
            row.append(String(field)); field = String.UnicodeScalarView(); fieldStarted = false
        }
        func endRow() {
            if rowStarted { endField() }
            rows.append(row); row = []; rowStarted = false
        }

        while let c = pending ?? it.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else {
                    field.append(c)
                }
                continue
            }
            switch c {
            case ",":
                rowStarted = true
                endField()
            case "\"" where !fieldStarted && field.isEmpty:
                inQuotes = true; fieldStarted = true; rowStarted = true
            case "\r":
                if let n = it.next(), n != "\n" { pending = n }
                endRow()
            case "\n":
                endRow()
            default:
                field.append(c); fieldStarted = true; rowStarted = true
            }
        }
        if rowStarted || inQuotes { endRow() }
        return rows
    }
}
