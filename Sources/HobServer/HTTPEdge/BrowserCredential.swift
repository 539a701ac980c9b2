// A token carried by a browser's WebSocket: browsers cannot set `Authorization` on an upgrade,
// and a token must never ride in a URL (it would land in logs and history). So the dashboard
// offers it as a subprotocol, as Kubernetes' API server accepts bearer tokens from browsers:
//
//     new WebSocket(url, ["hob.v1", "hob.token." + base64url(token)])
//
// The server selects `hob.v1` (a browser fails the connection if none of its offers is echoed),
// and the request is then treated exactly as if it had sent `Authorization: Bearer <token>`.
// An `Authorization` header, when present, wins.
import Foundation
import HTTPTypes
import HobAccess

enum BrowserCredential {
    static let offers = HTTPField.Name("Sec-WebSocket-Protocol")!
    /// The subprotocol the server selects; the page's WebSocket then reports it as `protocol`.
    static let selected = "hob.v1"
    static let tokenPrefix = "hob.token."

    /// The `Authorization` value to admit the upgrade with, and the subprotocol to answer with
    /// (nil: the client offered none of ours, and gets no `Sec-WebSocket-Protocol` back).
    static func authorization(_ fields: HTTPFields) -> (authorization: String?, subprotocol: String?) {
        let offered = fields[values: offers].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        guard offered.contains(selected) else { return (fields[.authorization], nil) }
        if let header = fields[.authorization] { return (header, selected) }
        let token = offered.lazy.filter { $0.hasPrefix(tokenPrefix) }
            .compactMap { Base64URL.decode($0.dropFirst(tokenPrefix.count)) }
            .compactMap { String(validating: $0, as: UTF8.self) }.first
        return (token.map { "Bearer \($0)" }, selected)
    }
}
