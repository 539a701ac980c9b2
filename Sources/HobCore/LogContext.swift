// What every log line says about where it comes from: the API request it serves and the sprite
// it concerns. The API edge sets both for the task that answers a request (task-locals reach the
// Fleet's actor methods and the tasks they start), and the daemon's log handler adds them to each
// line through this metadata provider, so no call site has to pass them along.
import Logging

public enum LogContext {
    /// The `Fly-Request-Id` of the request being answered.
    @TaskLocal public static var requestID: String?
    /// The sprite the request is about (its path names it).
    @TaskLocal public static var sprite: String?

    public static let metadataProvider = Logger.MetadataProvider {
        var metadata: Logger.Metadata = [:]
        if let requestID { metadata["request_id"] = .string(requestID) }
        if let sprite { metadata["sprite"] = .string(sprite) }
        return metadata
    }

    /// Runs `body` as the answer to one request.
    public static func serving<T>(request id: String, sprite: String?, _ body: () async throws -> T) async rethrows -> T {
        try await $requestID.withValue(id) {
            try await $sprite.withValue(sprite ?? self.sprite) { try await body() }
        }
    }

    /// The sprite named by an API path: `/v1/sprites/{name}/…`.
    public static func sprite(inPath path: String) -> String? {
        let parts = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: true)
        guard parts.count >= 3, parts[0] == "v1", parts[1] == "sprites" else { return nil }
        // Sprite names are lowercase letters, digits and dashes: nothing to decode.
        return String(parts[2])
    }
}
