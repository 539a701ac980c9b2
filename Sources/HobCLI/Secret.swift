// `hob secret set|list|rm`: credentials a sprite uses without seeing them. The daemon keeps the headers to inject
// for one upstream host; a sprite allowed to use the secret sends plain HTTP to `http://gateway.hob/NAME/PATH` and
// the daemon forwards it to the host with the headers added. Values go to the daemon once and never come back:
// `list` shows header names only, and no error message here repeats a line that may hold a value.

import ArgumentParser
import Foundation
import HobAPI
import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct Secret: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Store credentials that sprites use through the gateway without seeing them.",
        discussion: """
            A secret is HTTP headers (an API key, a bearer token) for one upstream host, and the sprites that may \
            use it. Inside such a sprite, plain HTTP to http://gateway.hob/NAME/PATH reaches https://HOST/PATH with \
            the headers added; the sprite never sees their values, and neither does `hob secret list`. Managing \
            secrets needs the admin operation.

            Examples:
              hob secret set openai --host api.openai.com --label agents --path '/v1/*' \\
                  --header-file - <<< "Authorization: Bearer $OPENAI_API_KEY"
              hob secret set github --host api.github.com --sprite ci-1 --sprite ci-2 \\
                  --header-file github.headers
              hob secret list
              hob secret rm github

            Then, inside a sprite allowed to use it:
              curl http://gateway.hob/openai/v1/models
            """,
        subcommands: [Save.self, List.self, Remove.self])

    public init() {}
}

extension Secret {
    public struct Save: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Create or replace a secret.",
            discussion: """
                Give each header as "Name: value" with --header, or one per line in a file with --header-file \
                (blank lines and lines starting with # are skipped). --header-file - reads stdin, so the value \
                never appears in your shell history or in `ps`. Replacing a secret replaces all of it: headers, \
                host and who may use it.

                Who may use it: every condition given must hold (--sprite: any of the names; --label: all of the \
                labels). With none of --sprite, --prefix, --label or --all-sprites, no sprite may use it yet. \
                --path limits the upstream paths: /v1/models exactly, or /v1/* for everything under /v1/.

                Examples:
                  hob secret set openai --host api.openai.com --all-sprites \\
                      --header-file - < openai.headers
                  hob secret set anthropic --host api.anthropic.com --prefix agent- \\
                      --path '/v1/*' --header-file - <<< "x-api-key: $ANTHROPIC_API_KEY"
                  hob secret set internal --host 10.0.0.5 --scheme http --port 8080 \\
                      --sprite demo --header "X-Token: $T"

                Inside the sprite:
                  curl http://gateway.hob/openai/v1/models
                """)

        @Argument(help: "The secret's name (lowercase letters, digits and '-'): the first segment of the gateway path.")
        public var name: String

        @Option(help: ArgumentHelp("The upstream host: a DNS name or IPv4 address, no scheme or path.", valueName: "host"))
        public var host: String

        @Option(help: ArgumentHelp("https (default) or http.", valueName: "scheme"))
        public var scheme: String?

        @Option(help: ArgumentHelp("The upstream port (default: the scheme's).", valueName: "n"))
        public var port: Int?

        @Option(name: .customLong("header"), help: ArgumentHelp("A header to inject, \"Name: value\" (repeatable).", valueName: "line"))
        public var headers: [String] = []

        @Option(
            name: .customLong("header-file"),
            help: ArgumentHelp("Headers to inject, one \"Name: value\" per line; - reads stdin.", valueName: "file"))
        public var headerFile: String?

        @Option(name: .customLong("sprite"), help: ArgumentHelp("This sprite may use it (repeatable: any of them).", valueName: "name"))
        public var sprites: [String] = []

        @Option(help: ArgumentHelp("Sprites whose name starts with this may use it.", valueName: "text"))
        public var prefix: String?

        @Option(name: .customLong("label"), help: ArgumentHelp("Sprites carrying this label may use it (repeatable: all of them).", valueName: "label"))
        public var labels: [String] = []

        @Flag(name: .customLong("all-sprites"), help: "Every sprite may use it.")
        public var allSprites = false

        @Option(
            name: .customLong("path"),
            help: ArgumentHelp("Only this upstream path, or a prefix ending in * (repeatable; default: every path).", valueName: "path"))
        public var paths: [String] = []

        @Flag(help: "Print the stored secret (without values) as JSON.")
        public var json = false

        public init() {}

        public func validate() throws {
            if headers.isEmpty && headerFile == nil { throw ValidationError("give the headers to inject with --header or --header-file") }
            if let scheme, !["https", "http"].contains(scheme.lowercased()) { throw ValidationError("--scheme must be https or http") }
            if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1 to 65535") }
            if allSprites, !sprites.isEmpty || prefix != nil || !labels.isEmpty {
                throw ValidationError("--all-sprites cannot be combined with --sprite, --prefix or --label")
            }
            if let prefix, prefix.isEmpty { throw ValidationError("--prefix must not be empty") }
            if sprites.contains(where: \.isEmpty) { throw ValidationError("--sprite must name a sprite") }
            if labels.contains(where: \.isEmpty) { throw ValidationError("--label must not be empty") }
            if let bad = paths.first(where: { !$0.hasPrefix("/") }) {
                throw ValidationError("--path must start with /, e.g. /v1/models or '/v1/*' (got \"\(bad)\")")
            }
            for line in headers { _ = try SecretHeaderLines.parse(line, source: "--header") }
        }

        /// Whether any sprite may use the secret as asked.
        public var admitsAnySprite: Bool { allSprites || !sprites.isEmpty || prefix != nil || !labels.isEmpty }

        /// What `set` sends: the --header lines, then `fileHeaders` (from --header-file).
        public func request(fileHeaders: [SecretHeaderLines.Header] = []) throws -> SecretRequest {
            var all: [String: String] = [:]
            var seen: Set<String> = []
            for header in try headers.map({ try SecretHeaderLines.parse($0, source: "--header") }) + fileHeaders {
                guard seen.insert(header.name.lowercased()).inserted else {
                    throw ValidationError("header \(header.name) is given twice")
                }
                all[header.name] = header.value
            }
            let access = SecretAccess(
                sprites: sprites.isEmpty ? nil : sprites, prefix: prefix, labels: labels.isEmpty ? nil : labels,
                paths: paths.isEmpty ? nil : paths, allSprites: allSprites)
            return SecretRequest(host: host, scheme: scheme?.lowercased(), port: port, headers: all, access: access)
        }

        public func run() async throws {
            try await CommandFailure.reporting {
                var fileHeaders: [SecretHeaderLines.Header] = []
                if let headerFile {
                    let text = try await SecretHeaderLines.read(headerFile)
                    do {
                        fileHeaders = try SecretHeaderLines.parseFile(text, source: headerFile == "-" ? "stdin" : headerFile)
                    } catch let error as ValidationError {
                        throw CommandError(error.message)
                    }
                }
                let body: SecretRequest
                do {
                    body = try request(fileHeaders: fileHeaders)
                } catch let error as ValidationError {
                    throw CommandError(error.message)
                }
                let info = try await Daemon.client().setSecret(name: name, body)
                if !admitsAnySprite {
                    StandardStream.printError(
                        "hob: warning: no sprite may use secret \(name) yet: pass --sprite, --prefix, --label or --all-sprites")
                }
                if json {
                    try JSONOutput.print(info)
                } else {
                    print("saved secret \(info.name): inside a sprite allowed to use it, http://gateway.hob/\(info.name)/… reaches \(Self.upstream(info))/…")
                }
            }
        }

        /// `https://api.example.com`, with the port when it is not the scheme's.
        static func upstream(_ info: SecretInfo) -> String {
            "\(info.scheme)://\(info.host)" + (info.port.map { ":\($0)" } ?? "")
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List secrets: hosts, header names and who may use them, never values.",
            discussion: """
                WHO is who may use a secret through the gateway (every condition must hold): sprite names, a name \
                prefix, labels, all sprites, or nobody yet. PATHS are the upstream paths allowed.

                Examples:
                  hob secret list
                  hob secret ls --json | jq -r '.[].name'
                """,
            aliases: ["ls"])

        @Flag(help: "Print a JSON array of secrets (without values).")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting {
                let secrets = try await Daemon.client().listSecrets()
                if json {
                    try JSONOutput.print(secrets)
                } else if secrets.isEmpty {
                    StandardStream.printError("No secrets; store one with `hob secret set`.")
                } else {
                    print(Self.table(secrets))
                }
            }
        }

        static func table(_ secrets: [SecretInfo]) -> String {
            var table = TextTable(headers: ["NAME", "HOST", "HEADERS", "WHO", "PATHS"])
            for s in secrets {
                let host = (s.scheme == "https" ? "" : "\(s.scheme)://") + s.host + (s.port.map { ":\($0)" } ?? "")
                table.rows.append([
                    s.name, host, s.headerNames.joined(separator: ","), who(s.access),
                    s.access.paths?.joined(separator: ",") ?? "all",
                ])
            }
            return table.render()
        }

        /// Who may use a secret, in a few words.
        static func who(_ a: SecretAccess) -> String {
            if a.allSprites { return "all sprites" }
            var parts: [String] = []
            if let sprites = a.sprites { parts.append("sprites=" + sprites.joined(separator: ",")) }
            if let prefix = a.prefix { parts.append("prefix=" + prefix) }
            if let labels = a.labels { parts.append("labels=" + labels.joined(separator: ",")) }
            return parts.isEmpty ? "nobody" : parts.joined(separator: " ")
        }
    }

    public struct Remove: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Delete a secret; sprites can no longer use it.",
            discussion: """
                Examples:
                  hob secret rm openai
                """,
            aliases: ["delete"])

        @Argument(help: "The secret's name.")
        public var name: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting {
                try await Daemon.client().deleteSecret(name: name)
                print("deleted secret \(name)")
            }
        }
    }
}

/// `Name: value` lines, from --header and --header-file. Errors name the flag or the line number, never the line:
/// it may hold a credential.
public enum SecretHeaderLines {
    public struct Header: Equatable, Sendable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Most bytes a header file may hold.
    static let maxFileBytes = 1 << 20

    /// One `Name: value`: the name is an HTTP token, the value is trimmed of surrounding blanks and must not be empty.
    public static func parse(_ line: String, source: String) throws -> Header {
        guard let colon = line.firstIndex(of: ":") else {
            throw ValidationError("\(source) must be \"Name: value\" (no ':' found)")
        }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces)
        let value = line[line.index(after: colon)...].trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
        guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
            throw ValidationError("\(source) must be \"Name: value\" with a header name of letters, digits and -")
        }
        guard !value.isEmpty else { throw ValidationError("\(source): header \(name) has no value") }
        guard !value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7f }) else {
            throw ValidationError("\(source): the value of header \(name) contains a control character")
        }
        return Header(name: name, value: value)
    }

    /// One header per line; blank lines and `#` comments are skipped, and CRLF line ends are accepted.
    public static func parseFile(_ text: String, source: String) throws -> [Header] {
        var headers: [Header] = []
        // "\r\n" is one Character, and a newline like "\n".
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = String(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            headers.append(try parse(line, source: "line \(i + 1) of \(source)"))
        }
        guard !headers.isEmpty else { throw ValidationError("\(source) holds no \"Name: value\" line") }
        return headers
    }

    /// The file's text, or all of stdin for `-`, read off the cooperative pool.
    static func read(_ path: String) async throws -> String {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandError("cannot open --header-file \(path): \(String(cString: strerror(errno)))") }
        defer { if fd != STDIN_FILENO { close(fd) } }
        if fd == STDIN_FILENO, StandardStream.isTerminal(fd) {
            throw CommandError("--header-file - reads stdin: pipe the headers in (… | hob secret set …) or redirect a file (< FILE)")
        }
        var bytes: [UInt8] = []
        while true {
            switch await StandardStream.read(fd) {
            case .data(let chunk):
                bytes += chunk
                if bytes.count > maxFileBytes { throw CommandError("--header-file \(path) is larger than \(maxFileBytes) bytes") }
            case .endOfFile:
                return String(decoding: bytes, as: UTF8.self)
            case .failed(let code):
                throw CommandError("cannot read --header-file \(path): \(String(cString: strerror(code)))")
            }
        }
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ b: UInt8) -> Bool {
        (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}
