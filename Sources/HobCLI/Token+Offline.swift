// `hob token attenuate|inspect`: the token commands that read the token text alone and contact nothing.

import ArgumentParser
import Foundation
import HobAPI
import HobAccess

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
