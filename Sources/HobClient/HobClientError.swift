// The one error type of the client library. It follows HobError's shape (SWIFT.md §1.6): a code that callers can
// match without breaking when new codes appear, a message written for the person at the terminal, and the
// underlying cause. When the daemon answered, `status` and `body` carry its HTTP status and Sprites error body.

import Foundation
import HobAPI

public struct HobClientError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unreachable, timeout, badResponse, invalidEndpoint, noCredentials, configuration
            case api, notFound, unauthorized, conflict, sessionExited, connectionClosed, operationFailed
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The daemon could not be reached (refused, no route, DNS).
        public static let unreachable = Code(.unreachable)
        /// Connecting or waiting for a response took too long.
        public static let timeout = Code(.timeout)
        /// The daemon answered with something that is not the Sprites API (bad JSON, failed upgrade, too large).
        public static let badResponse = Code(.badResponse)
        /// The API URL cannot be used (not http://, no host).
        public static let invalidEndpoint = Code(.invalidEndpoint)
        /// No token could be found in the environment, the login config or the local daemon's state directory.
        public static let noCredentials = Code(.noCredentials)
        /// The login config file cannot be read or written.
        public static let configuration = Code(.configuration)
        /// Any other non-2xx answer; see `status` and `body`.
        public static let api = Code(.api)
        /// HTTP 404.
        public static let notFound = Code(.notFound)
        /// HTTP 401 or 403.
        public static let unauthorized = Code(.unauthorized)
        /// HTTP 409.
        public static let conflict = Code(.conflict)
        /// HTTP 410 from the kill endpoint: the session's process has already exited.
        public static let sessionExited = Code(.sessionExited)
        /// A write on an exec connection that is already closed.
        public static let connectionClosed = Code(.connectionClosed)
        /// A streamed operation (checkpoint, restore) started, then the server reported that it failed.
        public static let operationFailed = Code(.operationFailed)

        public var description: String { "\(value)" }
    }

    public var code: Code
    public var message: String
    /// The HTTP status when the daemon answered.
    public var status: Int?
    /// The decoded Sprites error body (or the raw body text as `message` when it was not JSON).
    public var body: APIErrorBody?
    public var cause: (any Error)?

    public init(
        _ code: Code, _ message: String, status: Int? = nil, body: APIErrorBody? = nil, cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.status = status
        self.body = body
        self.cause = cause
    }

    public var description: String { message }

    /// Builds the error for a non-2xx response: the code follows the status, the message is the server's.
    public static func http(status: Int, body: [UInt8], url: String) -> HobClientError {
        let decoded = ErrorBodyDecoding.decode(status: status, body: body)
        let message =
            decoded.message.isEmpty
            ? "the Hob API at \(url) answered HTTP \(status) without an error message"
            : "\(decoded.message) (HTTP \(status))"
        let code: Code =
            switch status {
            case 401, 403: .unauthorized
            case 404: .notFound
            case 409: .conflict
            case 410: .sessionExited
            default: .api
            }
        return HobClientError(code, message, status: status, body: decoded)
    }
}

/// Reads an error body in any of the shapes Sprites servers have used (SPRITES-API.md §2):
/// `{"error","message"}`, `{"error":"sprite not found"}`, `{"errors":[…]}`, or plain text.
public enum ErrorBodyDecoding {
    private struct LenientBody: Decodable {
        var error: String?
        var message: String?
        var errors: [String]?
    }

    /// The message is empty when the body was.
    public static func decode(status: Int, body: [UInt8]) -> APIErrorBody {
        let fallbackCode = "http_\(status)"
        if let parsed = try? JSONDecoder().decode(LenientBody.self, from: Data(body)) {
            let message = parsed.message ?? parsed.errors?.joined(separator: "; ") ?? parsed.error
            if let message, !message.isEmpty {
                return APIErrorBody(error: parsed.error ?? fallbackCode, message: message)
            }
        }
        var text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count > 500 { text = String(text.prefix(500)) + "…" }
        return APIErrorBody(error: fallbackCode, message: text)
    }
}
