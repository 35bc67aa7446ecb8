import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange through Foundation's URLSession (FoundationNetworking on Linux). Redirects are never
/// followed by URLSession: `HubClient` follows them itself so that the token goes only to the endpoint host.
struct HTTPResponse {
    var status: Int
    /// Header names lowercased.
    var headers: [String: String]
    /// The body when no sink took it (error bodies, JSON), or what arrived of an error status.
    var body: Data
    /// Bytes handed to the sink.
    var streamed: Int64
    var url: URL

    func header(_ name: String) -> String? { headers[name.lowercased()] }
    var isRedirect: Bool { [301, 302, 303, 307, 308].contains(status) }
}

/// The delegate of one request: keeps the response, streams 2xx bodies to `sink`, refuses redirects.
private final class ExchangeDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let sink: ((Int, Data) throws -> Void)?
    let done = DispatchSemaphore(value: 0)
    var response: HTTPURLResponse?
    var body = Data()
    var streamed: Int64 = 0
    var error: Error?
    var sinkError: Error?

    init(sink: ((Int, Data) throws -> Void)?) { self.sink = sink }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        self.response = response as? HTTPURLResponse
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard sinkError == nil else { return }
        if let sink, let r = response, (200..<300).contains(r.statusCode) {
            do { try sink(r.statusCode, data); streamed += Int64(data.count) }
            catch { sinkError = error; dataTask.cancel() }
        } else if body.count < (sink == nil ? 256 << 20 : 1 << 20) {
            // JSON answers (no sink) are kept whole up to 256 MiB; error bodies of downloads up to 1 MiB.
            body.append(data)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if response == nil, let r = task.response as? HTTPURLResponse { response = r }
        self.error = error
        done.signal()
    }
}

/// Thrown by `exchange` when the connection fails; carries the bytes already streamed and any response head.
struct TransportFailure: Error {
    var url: URL
    var streamed: Int64
    var reason: String
    var response: HTTPResponse?
}

enum HTTP {
    /// Sends one request and waits for it. `sink` receives the status and the body of a 2xx answer chunk by chunk.
    static func exchange(_ request: URLRequest, sink: ((Int, Data) throws -> Void)? = nil) throws -> HTTPResponse {
        let delegate = ExchangeDelegate(sink: sink)
        let config = URLSessionConfiguration.ephemeral
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.urlCache = nil
        config.httpCookieStorage = nil
        config.timeoutIntervalForRequest = request.timeoutInterval
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        task.resume()
        delegate.done.wait()
        queue.waitUntilAllOperationsAreFinished()
        if let e = delegate.sinkError { throw e }
        let url = request.url!
        var response: HTTPResponse? = nil
        if let r = delegate.response {
            var headers: [String: String] = [:]
            for (k, v) in r.allHeaderFields {
                if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
            }
            response = HTTPResponse(status: r.statusCode, headers: headers, body: delegate.body, streamed: delegate.streamed, url: url)
        }
        if let e = delegate.error {
            throw TransportFailure(url: url, streamed: delegate.streamed, reason: (e as NSError).localizedDescription, response: response)
        }
        guard let response else { throw TransportFailure(url: url, streamed: 0, reason: "no HTTP response", response: nil) }
        // A body shorter than Content-Length (a dropped connection that the transport did not report).
        if (200..<300).contains(response.status), request.httpMethod != "HEAD", sink != nil,
           let len = response.header("Content-Length").flatMap(Int64.init), response.header("Content-Encoding") == nil,
           response.streamed < len {
            throw TransportFailure(url: url, streamed: response.streamed,
                                   reason: "connection closed after \(response.streamed) of \(len) bytes", response: response)
        }
        return response
    }
}
