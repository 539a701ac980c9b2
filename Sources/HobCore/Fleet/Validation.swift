// Validation and formatting of user-supplied values. Pure functions, unit-tested.
import Foundation

public enum SpriteName {
    /// DNS label rules: 1–63 characters of a–z, 0–9 and '-', not starting or ending with '-'.
    /// The name becomes the sprite's hostname and part of its URL.
    public static func validate(_ name: String) throws(HobError) {
        guard !name.isEmpty else { throw HobError(.invalidArgument, "sprite name must not be empty") }
        guard name.utf8.count <= 63 else { throw HobError(.invalidArgument, "sprite name \"\(name.prefix(70))\" is longer than 63 characters") }
        let allowed = name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
        guard allowed else {
            throw HobError(.invalidArgument, "sprite name \"\(name)\" may contain only lowercase letters, digits and '-'")
        }
        guard name.first != "-", name.last != "-" else {
            throw HobError(.invalidArgument, "sprite name \"\(name)\" must not start or end with '-'")
        }
    }
}

public enum EnvironmentName {
    public static func isValid(_ key: String) -> Bool {
        guard let first = key.utf8.first, !(48...57).contains(first) else { return false }
        return key.utf8.allSatisfy { (65...90).contains($0) || (97...122).contains($0) || (48...57).contains($0) || $0 == 95 }
    }
}

public enum Labels {
    public static func validate(_ labels: [String]) throws(HobError) -> [String] {
        guard labels.count <= 64 else { throw HobError(.invalidArgument, "at most 64 labels are allowed") }
        var seen: [String] = []
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 128, !label.contains(where: { $0.isNewline }) else {
                throw HobError(.invalidArgument, "labels must be 1–128 characters without newlines")
            }
            if !seen.contains(label) { seen.append(label) }
        }
        return seen
    }
}

public enum URLAuth {
    /// Who may open the sprite's URL: org members (`sprite`) or anyone (`public`).
    public static func validate(_ value: String) throws(HobError) -> String {
        guard ["sprite", "public"].contains(value) else {
            throw HobError(.invalidArgument, "url_settings.auth must be \"sprite\" or \"public\"")
        }
        return value
    }
}

public enum SpriteID {
    /// 16 lowercase hex characters from the system's CSPRNG.
    public static func generate() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}

public enum Timestamp {
    /// RFC 3339 in UTC with second precision, e.g. 2026-01-09T12:00:00Z.
    public static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
