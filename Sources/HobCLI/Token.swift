// `hob token create|list|revoke|attenuate|inspect`: scoped API tokens. Create, list and revoke ask the daemon;
// attenuate and inspect read the token text alone and contact nothing. A token is a macaroon (HobAccess): anyone
// holding one can append caveats, which only take power away, and only the daemon that minted it can check its
// signature. So attenuate needs no permission, and inspect says what a token claims, not that the claim holds.

import ArgumentParser
import Foundation
import HobAPI
import HobAccess
import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

// MARK: - Daemon commands

extension Token {
    public struct Create: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Mint a token that can do at most what yours can.",
            discussion: """
                Prints the token alone on stdout, so TOKEN=$(hob token create …) keeps it; its id and caveats \
                go to stderr. With --json, stdout gets the token and its record as JSON. The token is shown \
                only once: the daemon keeps its record, never the token. Minting needs the tokens operation; \
                the new token also carries every caveat of the token that minted it.

                Examples:
                  hob token create --sprite demo --ops exec,read --ttl 1h
                  hob token create --prefix agent- --ops create,exec,read,files --max-sprites 5 --ttl 7d
                  hob token create --label team-a --description "team A's CI"
                  hob token create --ttl 10m --json | jq -r .info.id
                """)

        @Option(name: .customLong("description"), help: ArgumentHelp("A note kept with the token's record.", valueName: "text"))
        public var tokenDescription: String?

        @OptionGroup public var scope: TokenScopeOptions

        @Flag(help: "Print the token and its record as JSON.")
        public var json = false

        public init() {}

        public func validate() throws { try scope.check() }

        public func request() throws -> CreateTokenRequest { try scope.request(description: tokenDescription) }

        public func run() async throws {
            try await CommandFailure.reporting {
                let client = try Daemon.client()
                let created = try await client.createToken(org: try await client.organization(), try request())
                if json {
                    try JSONOutput.print(created)
                } else {
                    print(created.token)
                    StandardStream.printError(Self.summary(created.info))
                }
            }
        }

        /// The new token's id and caveats, for stderr.
        static func summary(_ info: TokenInfo, now: Date = Date()) -> String {
            var block = KeyValueBlock()
            block.add("id", info.id)
            block.add("description", info.description)
            let caveats = info.caveats.map { CaveatWording.describe($0, now: now) }
            block.add("caveats", caveats.isEmpty ? "none: everything the minting token can do" : caveats.joined(separator: "\n"))
            return block.render()
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every token's record.",
            discussion: """
                Shows records only, never tokens. CAVEATS are those a token was minted with (holders may have \
                narrowed their copies further); its expiry is under EXPIRES. Needs the admin operation.

                Examples:
                  hob token list
                  hob token ls --json | jq -r '.[] | select(.revoked_at == null) | .id'
                """,
            aliases: ["ls"])

        @Flag(help: "Print a JSON array of token records.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting {
                let client = try Daemon.client()
                let tokens = try await client.listTokens(org: try await client.organization())
                if json {
                    try JSONOutput.print(tokens)
                } else if tokens.isEmpty {
                    StandardStream.printError("No tokens; mint one with `hob token create`.")
                } else {
                    print(Self.table(tokens))
                }
            }
        }

        static func table(_ tokens: [TokenInfo]) -> String {
            var table = TextTable(headers: ["ID", "DESCRIPTION", "CAVEATS", "CREATED", "EXPIRES", "REVOKED"])
            for token in tokens {
                let caveats = token.caveats.filter { !$0.hasPrefix("expires=") }.joined(separator: " ")
                let description = token.description.replacing("\n", with: " ")
                table.rows.append([
                    token.id, description.isEmpty ? "-" : description, caveats.isEmpty ? "-" : caveats, token.createdAt,
                    token.expiresAt ?? "never", token.revokedAt ?? "-",
                ])
            }
            return table.render()
        }
    }

    public struct Revoke: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Revoke a token and every token minted under it.",
            discussion: """
                Takes the id from `hob token list` (or a whole token, whose id is read from it). Copies narrowed \
                with `hob token attenuate` share the id and stop working too. Needs the admin operation.

                Examples:
                  hob token revoke tok_0123456789abcdef0123
                  hob token revoke "$TOKEN"
                """)

        @Argument(help: "Token id (tok_…), or the token itself.")
        public var id: String

        public init() {}

        public func validate() throws {
            if id.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("name the token to revoke, e.g. tok_…") }
        }

        /// The id to revoke: a whole token stands for its id.
        public var tokenID: String {
            let text = id.trimmingCharacters(in: .whitespacesAndNewlines)
            return (try? AccessToken.parse(text))?.id ?? text
        }

        public func run() async throws {
            try await CommandFailure.reporting {
                let client = try Daemon.client()
                try await client.revokeToken(org: try await client.organization(), id: tokenID)
                print("revoked \(tokenID) (and every token minted under it)")
            }
        }
    }
}

// MARK: - Offline commands

extension Token {
    public struct Attenuate: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Narrow a token offline by adding caveats.",
            discussion: """
                Contacts no daemon and needs no permission: the new token is the old one with more caveats, so \
                it can do at most what both allow. Reads TOKEN from the argument, or from stdin when it is - or \
                absent, and prints the narrowed token. The admin token (hob_…) has no caveats to extend: mint a \
                scoped token with `hob token create` and narrow that.

                Examples:
                  hob token attenuate "$TOKEN" --sprite demo --ops exec --ttl 10m
                  echo "$TOKEN" | hob token attenuate --ops read > read-only.token
                  hob token attenuate - --prefix agent- --max-sprites 2 < team.token
                """)

        @Argument(help: ArgumentHelp("The token to narrow; - or nothing reads it from stdin.", valueName: "token"))
        public var token: String?

        @OptionGroup public var scope: TokenScopeOptions

        public init() {}

        public func validate() throws {
            if scope.isEmpty {
                throw ValidationError("name at least one caveat to add: --sprite, --prefix, --label, --ops, --ttl or --max-sprites")
            }
            try scope.check()
        }

        public func run() async throws {
            try await CommandFailure.reporting {
                let original = try TokenText.parse(try await TokenText.read(token))
                print(try Self.narrow(original, with: try scope.caveats(now: Date())).string)
            }
        }

        /// `token` with `caveats` appended, refused when the daemon could not read the result.
        static func narrow(_ token: AccessToken, with caveats: [Caveat]) throws -> AccessToken {
            let narrowed = token.attenuated(with: caveats)
            do {
                _ = try AccessToken.parse(narrowed.string)
            } catch {
                throw CommandError("cannot narrow the token: the result would not be a valid token (\(error.description))")
            }
            return narrowed
        }
    }

    public struct Inspect: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show what a token says about itself, offline.",
            discussion: """
                Prints its organization, id, each caveat in words and the scope they add up to. Contacts no \
                daemon: the signature is checked only by the daemon that minted the token, so this shows what \
                the token claims, not that the daemon accepts it (try `HOB_TOKEN=… hob list`). Reads TOKEN from \
                the argument, or from stdin when it is - or absent.

                Examples:
                  hob token inspect "$TOKEN"
                  hob token attenuate "$TOKEN" --ttl 10m | hob token inspect
                  hob token inspect --json < agent.token | jq .scope.operations
                """)

        @Argument(help: ArgumentHelp("The token to read; - or nothing reads it from stdin.", valueName: "token"))
        public var token: String?

        @Flag(help: "Print the report as JSON.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting {
                let text = try await TokenText.read(token)
                let report = TokenText.isAdmin(text) ? TokenReport.admin : TokenReport(try TokenText.parse(text), now: Date())
                if json { try JSONOutput.print(report) } else { print(report.render()) }
            }
        }
    }
}

/// A token as the user hands it over: an argument, or stdin.
enum TokenText {
    /// The admin token is `hob_` and random text: no org, no id, no caveats.
    static func isAdmin(_ text: String) -> Bool {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.hasPrefix("hob_") && !AccessToken.looksLikeOne(trimmed)
    }

    /// Reads a scoped token; the messages say what is wrong and what to do instead.
    static func parse(_ text: String) throws -> AccessToken {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw CommandError("no token given: pass one as an argument or on stdin") }
        if isAdmin(trimmed) {
            throw CommandError(
                "this is the admin token (hob_…): it has no caveats and cannot be attenuated; "
                    + "mint a scoped token with `hob token create` and attenuate that one")
        }
        do {
            return try AccessToken.parse(trimmed)
        } catch {
            throw CommandError("cannot read the token: \(error.description)")
        }
    }

    /// `argument`, or all of stdin when it is `-` or absent. Stdin is read with StandardStream, off the
    /// cooperative pool; a terminal on stdin with no argument is refused rather than waited on.
    static func read(_ argument: String?) async throws -> String {
        if let argument, argument != "-" { return argument }
        if argument == nil, StandardStream.isTerminal(STDIN_FILENO) {
            throw CommandError("give the token as an argument, or pipe it in (… | hob token inspect)")
        }
        var bytes: [UInt8] = []
        while true {
            switch await StandardStream.read(STDIN_FILENO) {
            case .data(let chunk):
                bytes += chunk
                // Room for surrounding whitespace; AccessToken.parse refuses what is still too long.
                if bytes.count > AccessToken.maximumLength + 1024 {
                    throw CommandError("stdin holds more than a token (over \(AccessToken.maximumLength) bytes)")
                }
            case .endOfFile:
                return String(decoding: bytes, as: UTF8.self)
            case .failed(let code):
                throw CommandError("cannot read the token from stdin: \(String(cString: strerror(code)))")
            }
        }
    }
}

// MARK: - Wording

/// Caveats and expiry times in words, for `inspect`, `create` and the scope summary.
enum CaveatWording {
    /// One caveat's text in words, or why it is not one.
    static func describe(_ text: String, now: Date) -> String {
        do {
            return describe(try Caveat.parse(text), now: now)
        } catch {
            return "invalid caveat \"\(text)\": \(error.description)"
        }
    }

    static func describe(_ caveat: Caveat, now: Date) -> String {
        switch caveat {
        case .expires(let t):
            let past = Int64(now.timeIntervalSince1970.rounded(.down)) >= t
            return (past ? "expired " : "expires ") + moment(t, now: now)
        case .sprites(let names):
            return (names.count == 1 ? "only sprite: " : "only sprites: ") + names.joined(separator: ", ")
        case .prefix(let p):
            return "only sprites whose name starts with \"\(p)\""
        case .label(let l):
            return "only sprites labelled \"\(l)\""
        case .ops(let ops):
            return ops.isEmpty ? "no operations" : "only operations: " + ops.sorted().map(\.rawValue).joined(separator: ", ")
        case .maxSprites(let n):
            return "creates sprites only while fewer than \(n) of its sprites exist"
        }
    }

    /// `2026-12-07T13:00:00Z (in 9m)` or `2026-12-07T13:00:00Z (9m ago)`.
    static func moment(_ unixSeconds: Int64, now: Date) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(unixSeconds))
        let delta = unixSeconds - Int64(now.timeIntervalSince1970.rounded(.down))
        return "\(date.ISO8601Format()) (\(delta > 0 ? "in \(span(delta))" : "\(span(-delta)) ago"))"
    }

    /// A rough span: `45s`, `9m`, `2h5m`, `3d4h`: the two largest units, rounded down.
    static func span(_ seconds: Int64) -> String {
        let s = max(seconds, 0)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" + (s % 3600 / 60 > 0 ? "\(s % 3600 / 60)m" : "") }
        return "\(s / 86400)d" + (s % 86400 / 3600 > 0 ? "\(s % 86400 / 3600)h" : "")
    }
}

/// What `hob token inspect` prints: the token's claims, read without its signature.
struct TokenReport: Encodable {
    struct CaveatLine: Encodable, Equatable {
        var text: String
        var meaning: String?
        var error: String?
    }

    struct ScopeSummary: Encodable, Equatable {
        var sprites: String
        var operations: [String]
        var expiresAt: String?
        var maxSprites: Int?

        enum CodingKeys: String, CodingKey {
            case sprites, operations
            case expiresAt = "expires_at"
            case maxSprites = "max_sprites"
        }
    }

    var admin: Bool
    var org: String?
    var id: String?
    var caveats: [CaveatLine]
    /// Nil when a caveat cannot be read: the daemon refuses such a token outright.
    var scope: ScopeSummary?
    /// Always false: only the daemon holds the key.
    var signatureChecked = false
    /// The expiry in words, for the text form.
    private var expiryText: String?

    enum CodingKeys: String, CodingKey {
        case admin, org, id, caveats, scope
        case signatureChecked = "signature_checked"
    }

    static let admin = TokenReport(admin: true, org: nil, id: nil, caveats: [], scope: nil)

    private init(admin: Bool, org: String?, id: String?, caveats: [CaveatLine], scope: ScopeSummary?) {
        self.admin = admin
        self.org = org
        self.id = id
        self.caveats = caveats
        self.scope = scope
    }

    init(_ token: AccessToken, now: Date) {
        admin = false
        org = token.org
        id = token.id
        var parsed: [Caveat] = []
        var lines: [CaveatLine] = []
        for text in token.macaroon.caveats {
            do {
                let caveat = try Caveat.parse(text)
                parsed.append(caveat)
                lines.append(CaveatLine(text: text, meaning: CaveatWording.describe(caveat, now: now)))
            } catch {
                lines.append(CaveatLine(text: text, error: error.description))
            }
        }
        caveats = lines
        guard lines.allSatisfy({ $0.error == nil }) else { return }
        let scope = Scope(caveats: parsed)
        self.scope = ScopeSummary(
            sprites: Self.sprites(scope), operations: scope.allowedOps.map(\.rawValue),
            expiresAt: scope.expiryDate?.ISO8601Format(), maxSprites: scope.maxSprites)
        expiryText = scope.expires.map { CaveatWording.describe(.expires(unixSeconds: $0), now: now) }
    }

    /// Which sprites a scope reaches, in words.
    static func sprites(_ scope: Scope) -> String {
        guard scope.isSpriteScoped else { return "every sprite" }
        var parts: [String] = scope.nameLists.map { $0.count == 1 ? "named \($0[0])" : "named one of \($0.joined(separator: ", "))" }
        parts += scope.prefixes.map { "whose name starts with \"\($0)\"" }
        parts += scope.labels.sorted().map { "labelled \"\($0)\"" }
        return "only those " + parts.joined(separator: " and ")
    }

    func render() -> String {
        guard !admin else {
            return """
                This is the admin token (hob_…): no organization, id or caveats; it can do everything on the daemon \
                that created it. Only that daemon can check it.
                """
        }
        var block = KeyValueBlock()
        block.add("organization", org)
        block.add("id", id)
        let lines = caveats.map { $0.meaning ?? "invalid caveat \"\($0.text)\": \($0.error ?? "")" }
        block.add("caveats", lines.isEmpty ? "none" : lines.joined(separator: "\n"))
        if let scope {
            var summary = ["sprites: \(scope.sprites)"]
            summary.append("operations: " + (scope.operations.isEmpty ? "none" : scope.operations.joined(separator: ", ")))
            summary.append(expiryText ?? "never expires")
            if let max = scope.maxSprites { summary.append("creates sprites only while fewer than \(max) of its sprites exist") }
            block.add("scope", summary.joined(separator: "\n"))
        } else {
            block.add("scope", "none: the daemon refuses a token with a caveat it cannot read")
        }
        block.add("signature", "not checked here; only the daemon that minted the token can check it")
        return block.render()
    }
}
