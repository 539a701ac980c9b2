// What a token may do, as the caveats written into it. Each caveat is a line of text
// `key=value`; a token admits a request only when every one of its caveats holds, so adding a
// caveat can only take power away. A caveat this code does not know makes the token invalid
// (fail closed: an older daemon never reads a newer restriction as no restriction).
//
//   expires=<unix seconds>      valid before that second
//   sprite=<name>[,<name>…]     only these sprites
//   prefix=<text>               only sprites whose name starts with it
//   label=<label>               only sprites that carry this label
//   ops=<op>[,<op>…]            only these operations (Permission)
//   max_sprites=<n>             may create sprites only while fewer than n of its sprites exist
import Foundation

/// A class of API calls a token may make.
public enum Permission: String, Sendable, CaseIterable, Comparable {
    /// See a sprite: info, lists, usage, sessions, services, checkpoints, policies, ports.
    case read
    /// Run code in it: exec, console, attach, kill, port forwarding, services.
    case exec
    /// Read and write its files (file API, file watch).
    case files
    /// Take, restore and delete checkpoints.
    case checkpoints
    /// Change or destroy it: settings, sleep, restart, upgrade, policies.
    case lifecycle
    /// Create sprites (within the token's sprite scope), fork included.
    case create
    /// Open its URL when the URL is private.
    case url
    /// Mint tokens, each carrying at least this token's caveats.
    case tokens
    /// The whole daemon: list and revoke tokens, the audit log, host usage. Only for a token with
    /// no sprite scope.
    case admin

    public static func < (a: Permission, b: Permission) -> Bool {
        (allCases.firstIndex(of: a) ?? 0) < (allCases.firstIndex(of: b) ?? 0)
    }

    /// Parses `exec,read`; an unknown name throws.
    public static func parseList(_ text: String) throws(CaveatError) -> Set<Permission> {
        var ops = Set<Permission>()
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let op = Permission(rawValue: trimmed) else {
                throw CaveatError("unknown operation \"\(trimmed)\"; known: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            ops.insert(op)
        }
        return ops
    }
}

public struct CaveatError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Caveat: Sendable, Equatable, Hashable {
    case expires(unixSeconds: Int64)
    case sprites([String])
    case prefix(String)
    case label(String)
    case ops(Set<Permission>)
    case maxSprites(Int)

    /// Longest caveat accepted, and most caveats in one token: a real one is a few dozen bytes.
    public static let maximumLength = 1024
    public static let maximumCount = 64

    public var text: String {
        switch self {
        case .expires(let t): "expires=\(t)"
        case .sprites(let names): "sprite=\(names.joined(separator: ","))"
        case .prefix(let p): "prefix=\(p)"
        case .label(let l): "label=\(l)"
        case .ops(let ops): "ops=\(ops.sorted().map(\.rawValue).joined(separator: ","))"
        case .maxSprites(let n): "max_sprites=\(n)"
        }
    }

    public static func parse(_ text: String) throws(CaveatError) -> Caveat {
        guard text.utf8.count <= maximumLength else { throw CaveatError("a caveat is longer than \(maximumLength) bytes") }
        guard let equals = text.firstIndex(of: "=") else { throw CaveatError("caveat \"\(text)\" is not key=value") }
        let key = String(text[..<equals])
        let value = String(text[text.index(after: equals)...])
        switch key {
        case "expires":
            // Past the year 9999 no date format round-trips (the database's included).
            guard let t = Int64(value), (0...253_402_300_799).contains(t) else {
                throw CaveatError("expires must be Unix seconds before the year 10000, not \"\(value)\"")
            }
            return .expires(unixSeconds: t)
        case "sprite":
            let names = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !names.contains(where: \.isEmpty) else { throw CaveatError("sprite= needs names separated by commas") }
            return .sprites(names)
        case "prefix":
            guard !value.isEmpty else { throw CaveatError("prefix= needs a prefix") }
            return .prefix(value)
        case "label":
            guard !value.isEmpty else { throw CaveatError("label= needs a label") }
            return .label(value)
        case "ops":
            // Caveats are written canonically (Caveat.text), so no spaces to trim: this runs on
            // every token's first use.
            var ops = Set<Permission>()
            for name in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let op = Permission(rawValue: String(name)) else { throw CaveatError("unknown operation \"\(name)\"") }
                ops.insert(op)
            }
            return .ops(ops)
        case "max_sprites":
            guard let n = Int(value), n >= 0 else { throw CaveatError("max_sprites must be a count, not \"\(value)\"") }
            return .maxSprites(n)
        default:
            throw CaveatError("unknown caveat \"\(key)\"")
        }
    }
}
