// `hob token create|list|revoke`: the token commands that ask the daemon (HobClient+Tokens.swift).

import ArgumentParser
import Foundation
import HobAPI
import HobAccess
import HobClient

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
