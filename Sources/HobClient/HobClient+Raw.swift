// Any request to the API as it is (`hob api`): the endpoint and token of every other call, the
// answer handed back whatever its status, for scripts that reach what has no command of its own.

import NIOHTTP1

extension HobClient {
    public struct RawResponse: Sendable {
        public var status: Int
        public var contentType: String?
        public var body: [UInt8]
    }

    /// `method` on `path` (what follows the base URL, query included, e.g. `/v1/sprites?prefix=a`)
    /// with an optional JSON body. Statuses of 4xx and 5xx are returned, not thrown.
    public func raw(_ method: String, path: String, body: [UInt8]? = nil) async throws -> RawResponse {
        guard !method.isEmpty, method.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw HobClientError(.configuration, "\(method) is not an HTTP method (use GET, POST, PUT, DELETE…)")
        }
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw HobClientError(.configuration, "\(path) is not an API path: it starts with / and has no spaces or control characters")
        }
        let target = try endpoint.parsed().pathPrefix + path
        let response = try await HTTPTransport.send(
            HTTPMethod(rawValue: method), target: target, body: body, endpoint: endpoint, limits: limits, group: group)
        return RawResponse(status: response.status, contentType: response.headers.first(name: "content-type"), body: response.body)
    }
}
