// Hob's one error type. `code` decides the HTTP status and the CLI exit code; `message` is for
// people and names the sprite and the step; `cause` keeps the underlying error (often a
// SystemError carrying errno and the failing operation).
import Glibc
import HobOS

public struct HobError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case invalidArgument = "invalid_argument"
            case notFound = "not_found"
            case exists = "already_exists"
            case invalidState = "invalid_state"
            case unauthorized
            case permissionDenied = "permission_denied"
            case gone
            case tooLarge = "too_large"
            case unavailable
            case unsupported
            case insufficientStorage = "insufficient_storage"
            case rateLimited = "rate_limited"
            case resourceExhausted = "resource_exhausted"
            case internalError = "internal_error"
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        public static let invalidArgument = Code(.invalidArgument)
        public static let notFound = Code(.notFound)
        public static let exists = Code(.exists)
        public static let invalidState = Code(.invalidState)
        public static let unauthorized = Code(.unauthorized)
        /// Allowed to ask, but the operation is not permitted (an immutable file in a sprite).
        public static let permissionDenied = Code(.permissionDenied)
        public static let gone = Code(.gone)
        public static let tooLarge = Code(.tooLarge)
        public static let unavailable = Code(.unavailable)
        public static let unsupported = Code(.unsupported)
        /// A disk is full.
        public static let insufficientStorage = Code(.insufficientStorage)
        /// Too many requests of a kind in too short a time; `retryAfter` says when one will pass.
        public static let rateLimited = Code(.rateLimited)
        /// A sprite has as many of something as it may keep (checkpoints); waiting does not help,
        /// deleting does.
        public static let resourceExhausted = Code(.resourceExhausted)
        public static let internalError = Code(.internalError)

        /// The stable string used as `error` in the API's error body.
        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?
    /// Seconds after which the same request may succeed (`rateLimited`); the API sends it as
    /// `Retry-After`.
    public var retryAfter: Int?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
        self.retryAfter = retryAfter
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }

    /// Wraps any error as an internal failure of `step`, keeping HobErrors as they are. A full
    /// disk or quota is the caller's to fix (free space), so it is `insufficient_storage` (507).
    public static func wrap(_ error: any Error, _ step: String) -> HobError {
        if let e = error as? HobError { return e }
        if let e = error as? SystemError, e.errno == ENOSPC || e.errno == EDQUOT {
            return HobError(.insufficientStorage, "\(step): not enough storage space", cause: error)
        }
        return HobError(.internalError, step, cause: error)
    }
}
