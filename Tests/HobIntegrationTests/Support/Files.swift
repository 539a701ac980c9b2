// Helpers for the file API suite: requests to /v1/sprites/{name}/fs/… with raw bodies, query
// strings encoded the strict way, and extra headers (Range).
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension DaemonFixture {
    /// One request to `…/fs/<endpoint>`: `query` percent-encoded, `body` sent as is (or `json`
    /// serialized), `headers` added.
    func fs(
        _ method: String, _ sprite: String, _ endpoint: String, _ query: [(String, String)] = [], body: Data? = nil,
        json: [String: Any]? = nil, headers: [String: String] = [:]
    ) async throws -> HTTPResult {
        let encoded = query.map { "\($0.0)=\(RawHTTP.queryEncode($0.1))" }.joined(separator: "&")
        let path = "/v1/sprites/\(sprite)/fs/\(endpoint)" + (encoded.isEmpty ? "" : "?" + encoded)
        guard let url = URL(string: baseURL + path) else { throw TestFailure("bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let body {
            request.httpBody = body
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        guard let response = response as? HTTPURLResponse else { throw TestFailure("\(method) \(path): not an HTTP response") }
        var fields: [String: String] = [:]
        for (name, value) in response.allHeaderFields { fields[String(describing: name).lowercased()] = String(describing: value) }
        return HTTPResult(status: response.statusCode, body: data, headers: fields)
    }

    /// `PUT …/fs/write?path=…` with `data`.
    func writeFile(_ sprite: String, _ path: String, _ data: Data, _ query: [(String, String)] = []) async throws -> HTTPResult {
        try await fs("PUT", sprite, "write", [("path", path)] + query, body: data)
    }

    func writeFile(_ sprite: String, _ path: String, _ text: String) async throws -> HTTPResult {
        try await writeFile(sprite, path, Data(text.utf8))
    }

    /// `GET …/fs/read?path=…`.
    func readFile(_ sprite: String, _ path: String, headers: [String: String] = [:]) async throws -> HTTPResult {
        try await fs("GET", sprite, "read", [("path", path)], headers: headers)
    }

    /// `GET …/fs/list?path=…`: the entries, by name; fails unless 200.
    func listFiles(_ sprite: String, _ path: String, recursive: Bool = false) async throws -> [String: [String: Any]] {
        let response = try await fs("GET", sprite, "list", [("path", path)] + (recursive ? [("recursive", "true")] : []))
        guard response.status == 200, let entries = response.json?["entries"] as? [[String: Any]] else {
            throw TestFailure("listing \(path) in \(sprite): \(response)")
        }
        return Dictionary(entries.map { ($0["name"] as? String ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
    }
}

extension HTTPResult {
    /// `code` of a file API error body (an errno name such as ENOENT).
    var fsCode: String? { json?["code"] as? String }
}
