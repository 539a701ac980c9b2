// Which sprites may use a secret through the gateway, and on which upstream paths. Like a token's
// caveats, every condition given must hold; unlike a token, a secret with no condition at all is
// usable by nobody (fail closed) unless `all_sprites` says so explicitly.
//
// Paths are matched as the sprite sent them, before anything decodes them: a request whose path
// could mean something else once the upstream normalises it (`..` or `.` segments, spelled plainly
// or percent-encoded, an encoded slash or backslash) is refused outright rather than normalised,
// so `/v1/*` cannot be escaped with `/v1/../admin` or `/v1/%2e%2e/admin`.
import Foundation
import HobAPI

extension SecretAccess {
    /// Whether it names any sprite at all (sprites, prefix, labels, or all sprites).
    public var admitsAnySprite: Bool { allSprites || hasSpriteCondition }

    private var hasSpriteCondition: Bool { sprites != nil || prefix != nil || labels != nil }

    /// Whether the sprite `name`, carrying `labels`, may use the secret.
    public func admits(sprite name: String, labels carried: [String]) -> Bool {
        if allSprites { return true }
        guard hasSpriteCondition else { return false }
        if let sprites, !sprites.contains(name) { return false }
        if let prefix, !name.hasPrefix(prefix) { return false }
        if let labels, !labels.allSatisfy(carried.contains) { return false }
        return true
    }

    /// Whether a request for `path` (a request target's path, a query allowed) may use the secret.
    public func allows(path target: String) -> Bool {
        guard let path = Self.safePath(target) else { return false }
        guard let paths else { return true }
        return paths.contains { pattern in
            pattern.hasSuffix("*") ? path.hasPrefix(pattern.dropLast()) : path == pattern
        }
    }

    /// The path of a request target without its query or fragment; nil when it does not start with
    /// `/`, or could name another path once decoded or normalised.
    static func safePath(_ target: String) -> String? {
        let path = String(target.prefix { $0 != "?" && $0 != "#" })
        guard path.hasPrefix("/") else { return nil }
        let lowered = path.lowercased()
        // An encoded slash or backslash makes one segment two for some servers; a backslash is a
        // separator for others; NUL and controls have no business in a path.
        if lowered.contains("%2f") || lowered.contains("%5c") || lowered.contains("%00") || path.contains("\\") { return nil }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return nil }
        for segment in lowered.split(separator: "/", omittingEmptySubsequences: false) {
            // `..;x` is `..` to servers that strip path parameters.
            let bare = segment.prefix { $0 != ";" }.replacingOccurrences(of: "%2e", with: ".")
            if bare == "." || bare == ".." { return nil }
        }
        return path
    }

    /// Throws 400 for a condition that cannot be met or a pattern that cannot match.
    public func validate() throws(HobError) {
        if allSprites, hasSpriteCondition {
            throw HobError(.invalidArgument, "all_sprites cannot be combined with sprites, prefix or labels")
        }
        if let sprites {
            guard !sprites.isEmpty else { throw HobError(.invalidArgument, "sprites must name at least one sprite (or be left out)") }
            for name in sprites { try SpriteName.validate(name) }
        }
        if let prefix, prefix.isEmpty { throw HobError(.invalidArgument, "prefix must not be empty (or be left out)") }
        if let labels {
            guard !labels.isEmpty else { throw HobError(.invalidArgument, "labels must name at least one label (or be left out)") }
            _ = try Labels.validate(labels)
        }
        if let paths {
            guard !paths.isEmpty else { throw HobError(.invalidArgument, "paths must hold at least one path (or be left out: every path)") }
            guard paths.count <= 64 else { throw HobError(.invalidArgument, "at most 64 paths are allowed") }
            for pattern in paths { try Self.validate(pattern: pattern) }
        }
    }

    static func validate(pattern: String) throws(HobError) {
        let body = pattern.hasSuffix("*") ? String(pattern.dropLast()) : pattern
        guard body.hasPrefix("/"), pattern.utf8.count <= 1024 else {
            throw HobError(.invalidArgument, "path \"\(pattern.prefix(80))\" must start with / (e.g. /v1/models or /v1/*)")
        }
        guard !body.contains("*"), !body.contains("?"), !body.contains("#"), safePath(body) == body else {
            throw HobError(
                .invalidArgument,
                "path \"\(pattern)\" must be a plain path, or one ending in * for everything under it (no query, no . or .. segments, no other *)")
        }
    }
}
