// `hob token create|list|revoke|attenuate|inspect`: scoped API tokens. Create, list and revoke ask the daemon;
// attenuate and inspect read the token text alone and contact nothing. A token is a macaroon (HobAccess): anyone
// holding one can append caveats, which only take power away, and only the daemon that minted it can check its
// signature. So attenuate needs no permission, and inspect says what a token claims, not that the claim holds.

import ArgumentParser
import Foundation
import HobAPI
import HobAccess

public struct Token: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Mint, list, revoke, narrow and read scoped API tokens.",
        discussion: """
            A token is <org>/<id>/<body>: its caveats say which sprites, which operations and until when it may \
            be used, and each caveat added can only take power away. A token minted with `hob token create` \
            can do at most what the token that minted it can. Anyone holding a token can narrow it further \
            without the daemon (`hob token attenuate`); the narrowed copy keeps the id, so revoking the id \
            revokes every copy, and every token minted under it.

            Operations: read, exec, files, checkpoints, lifecycle, create, url, tokens, admin.

            Examples:
              TOKEN=$(hob token create --sprite demo --ops exec,read --ttl 1h)
              HOB_TOKEN=$TOKEN hob exec demo -- uname -a
              hob token attenuate "$TOKEN" --ttl 10m | hob token inspect
              hob token list
              hob token revoke tok_0123456789abcdef0123
            """,
        subcommands: [Create.self, List.self, Revoke.self, Attenuate.self, Inspect.self])

    public init() {}
}

// MARK: - Scope options

/// The restrictions `create` asks the daemon for and `attenuate` appends itself.
public struct TokenScopeOptions: ParsableArguments {
    @Option(name: .customLong("sprite"), help: ArgumentHelp("Only this sprite (repeatable: any of them).", valueName: "name"))
    public var sprites: [String] = []

    @Option(help: ArgumentHelp("Only sprites whose name starts with this.", valueName: "text"))
    public var prefix: String?

    @Option(name: .customLong("label"), help: ArgumentHelp("Only sprites carrying this label (repeatable: all of them).", valueName: "label"))
    public var labels: [String] = []

    @Option(help: ArgumentHelp(
            "Only these operations, e.g. exec,read (of read, exec, files, checkpoints, lifecycle, create, url, tokens, admin).",
            valueName: "ops"))
    public var ops: String?

    @Option(help: ArgumentHelp("Valid for this long, e.g. 10m, 1h, 7d.", valueName: "duration"))
    public var ttl: String?

    @Option(name: .customLong("max-sprites"), help: ArgumentHelp("May create sprites only while fewer than this many of its sprites exist.", valueName: "n"))
    public var maxSprites: Int?

    public init() {}

    /// Whether no restriction was given.
    public var isEmpty: Bool {
        sprites.isEmpty && prefix == nil && labels.isEmpty && ops == nil && ttl == nil && maxSprites == nil
    }

    /// Checks every value; the messages name the flag.
    public func check() throws {
        _ = try names()
        if let prefix, prefix.isEmpty || prefix.contains(",") { throw ValidationError("--prefix must be a non-empty name prefix without commas") }
        if labels.contains(where: \.isEmpty) { throw ValidationError("--label must not be empty") }
        _ = try permissions()
        _ = try TokenTTL.seconds(ttl, flag: "--ttl")
        if let maxSprites, maxSprites < 0 { throw ValidationError("--max-sprites must not be negative") }
    }

    /// The `--sprite` names; `--sprite a,b` is the same as `--sprite a --sprite b`.
    func names() throws -> [String] {
        let names = sprites.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if names.contains(where: \.isEmpty) { throw ValidationError("--sprite must name a sprite") }
        return names
    }

    func permissions() throws -> Set<Permission>? {
        guard let ops else { return nil }
        return try TokenOps.parse(ops, flag: "--ops")
    }

    /// What `hob token create` sends.
    public func request(description: String?) throws -> CreateTokenRequest {
        let names = try names()
        return CreateTokenRequest(
            description: description, sprites: names.isEmpty ? nil : names, prefix: prefix, labels: labels.isEmpty ? nil : labels,
            ops: try permissions().map { $0.sorted().map(\.rawValue) }, expiresIn: try TokenTTL.seconds(ttl, flag: "--ttl"),
            maxSprites: maxSprites)
    }

    /// What `hob token attenuate` appends, with `--ttl` counted from `now`.
    public func caveats(now: Date) throws -> [Caveat] {
        var list: [Caveat] = []
        if let seconds = try TokenTTL.seconds(ttl, flag: "--ttl") {
            list.append(.expires(unixSeconds: Int64(now.timeIntervalSince1970.rounded(.down)) + Int64(seconds)))
        }
        let names = try names()
        if !names.isEmpty { list.append(.sprites(names)) }
        if let prefix { list.append(.prefix(prefix)) }
        list += labels.map { .label($0) }
        if let ops = try permissions() { list.append(.ops(ops)) }
        if let maxSprites { list.append(.maxSprites(maxSprites)) }
        return list
    }
}

/// `--ttl` and `--token-ttl`: a duration the daemon accepts for `expires_in` (up to ten years).
enum TokenTTL {
    static let maximumSeconds = 10 * 365 * 86400

    static func seconds(_ value: String?, flag: String) throws -> Int? {
        guard let value else { return nil }
        guard let seconds = DurationText.seconds(value), seconds > 0 else {
            throw ValidationError("\(flag) must be a duration such as 10m, 1h or 7d, not \"\(value)\"")
        }
        guard seconds <= maximumSeconds else { throw ValidationError("\(flag) must be at most ten years (3650d)") }
        return seconds
    }
}

/// `--ops` and `--token-ops`: operation names separated by commas.
enum TokenOps {
    static func parse(_ value: String, flag: String) throws -> Set<Permission> {
        do {
            return try Permission.parseList(value)
        } catch {
            throw ValidationError("\(flag): \(error.description)")
        }
    }
}
