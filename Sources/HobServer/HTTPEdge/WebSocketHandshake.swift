// The opening handshake of RFC 6455 §4.2, checked on any request of a connection: clients such
// as Node's fetch (undici) send their upgrade on a connection that already carried REST calls.
import Crypto
import Foundation
import HTTPTypes

enum WebSocketHandshake {
    enum Verdict {
        /// With the `Sec-WebSocket-Accept` value.
        case accept(String)
        case refuse(EdgeAnswer)
    }

    static let upgrade = HTTPField.Name("Upgrade")!
    static let key = HTTPField.Name("Sec-WebSocket-Key")!
    static let version = HTTPField.Name("Sec-WebSocket-Version")!
    static let accept = HTTPField.Name("Sec-WebSocket-Accept")!

    /// Whether the request asks to become a WebSocket (`Upgrade: websocket` and `Connection: upgrade`).
    static func isUpgrade(_ head: HTTPRequest) -> Bool {
        tokens(head.headerFields[values: upgrade]).contains("websocket")
            && tokens(head.headerFields[values: .connection]).contains("upgrade")
    }

    /// The `Sec-WebSocket-Accept` value for a valid upgrade request, or the answer refusing it.
    static func check(_ head: HTTPRequest) -> Verdict {
        guard head.method == .get else {
            return .refuse(EdgeAnswer(status: .badRequest, error: "bad_request", message: "a WebSocket upgrade must be a GET"))
        }
        guard head.headerFields[values: version].map({ $0.trimmingCharacters(in: .whitespaces) }) == ["13"] else {
            // §4.4: say which version this server speaks.
            return .refuse(
                EdgeAnswer(
                    status: HTTPResponse.Status(code: 426, reasonPhrase: "Upgrade Required"), error: "bad_request",
                    message: "Sec-WebSocket-Version must be 13", extra: [version: "13"]))
        }
        let keys = head.headerFields[values: key]
        guard keys.count == 1, let value = keys.first?.trimmingCharacters(in: .whitespaces),
            Data(base64Encoded: value)?.count == 16
        else {
            return .refuse(
                EdgeAnswer(status: .badRequest, error: "bad_request", message: "Sec-WebSocket-Key must be 16 bytes in base64, once"))
        }
        return .accept(acceptValue(key: value))
    }

    /// base64(SHA-1(key + the RFC's GUID)).
    static func acceptValue(key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
        return Data(digest).base64EncodedString()
    }

    /// The comma-separated tokens of a header's values, lowercased.
    static func tokens(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }
}
