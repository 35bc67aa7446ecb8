import Foundation

/// A minimal `multipart/form-data` reader (RFC 7578) for photo uploads: each part's headers and bytes.
/// Malformed bodies are a `ServiceError.badRequest`, never a crash.
public struct MultipartPart: Sendable {
    public var name: String?
    public var filename: String?
    public var contentType: String?
    public var data: Data
}

public enum Multipart {
    /// The `boundary` parameter of a `multipart/form-data` Content-Type, nil if absent.
    public static func boundary(fromContentType contentType: String) -> String? {
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0].lowercased() == "boundary" else { continue }
            var v = kv[1]
            if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return v.isEmpty || v.count > 70 ? nil : v
        }
        return nil
    }

    public static func parse(_ body: Data, boundary: String, maxParts: Int = 64) throws -> [MultipartPart] {
        let delimiter = Data("--\(boundary)".utf8)
        let crlf = Data("\r\n".utf8)
        let headerEnd = Data("\r\n\r\n".utf8)
        guard let first = body.range(of: delimiter) else {
            throw ServiceError.badRequest("multipart body has no boundary line '--\(boundary)'")
        }
        var parts: [MultipartPart] = []
        var cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if body[cursor...].starts(with: Data("--".utf8)) { break }
            guard body[cursor...].starts(with: crlf) else {
                throw ServiceError.badRequest("multipart boundary line is not followed by CRLF")
            }
            cursor += 2
            guard let hEnd = body.range(of: headerEnd, in: cursor..<body.endIndex) else {
                throw ServiceError.badRequest("multipart part has no end of headers")
            }
            let headerText = String(decoding: body[cursor..<hEnd.lowerBound], as: UTF8.self)
            guard let next = body.range(of: crlf + delimiter, in: hEnd.upperBound..<body.endIndex) else {
                throw ServiceError.badRequest("multipart body ends without a closing boundary")
            }
            var part = MultipartPart(name: nil, filename: nil, contentType: nil, data: Data(body[hEnd.upperBound..<next.lowerBound]))
            for line in headerText.components(separatedBy: "\r\n") {
                let kv = line.split(separator: ":", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let key = kv[0].trimmingCharacters(in: .whitespaces).lowercased()
                let value = kv[1].trimmingCharacters(in: .whitespaces)
                if key == "content-type" { part.contentType = value.lowercased() }
                if key == "content-disposition" {
                    part.name = parameter("name", in: value)
                    part.filename = parameter("filename", in: value)
                }
            }
            parts.append(part)
            guard parts.count <= maxParts else { throw ServiceError.badRequest("more than \(maxParts) parts in one request") }
            cursor = next.upperBound
        }
        return parts
    }

    static func parameter(_ key: String, in value: String) -> String? {
        for param in value.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0].lowercased() == key else { continue }
            var v = kv[1]
            if v.hasPrefix("\""), v.hasSuffix("\""), v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            return String(v.prefix(200))
        }
        return nil
    }
}
