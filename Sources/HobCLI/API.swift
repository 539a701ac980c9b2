// `hob api`: one authenticated request to any API path, its body printed as it came (like `sprite
// api`), for scripts that reach what has no command of its own.

import ArgumentParser
import Foundation
import HobClient

#if canImport(Glibc)
import Glibc
#endif

public struct API: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Send one request to the Hob API and print the response body.",
        discussion: """
            PATH follows the base URL (query included); with --sprite NAME it follows \
            /v1/sprites/NAME. The method is GET, or POST when there is a body. A body is JSON text, \
            @FILE for a file's contents, or @- for stdin. The exit status is 1 when the answer is \
            4xx or 5xx (the body is still printed), and the status line goes to stderr with -i.

            Examples:
              hob api /v1/sprites
              hob api /v1/sprites/demo/checkpoints
              hob api -s demo /exec/sessions
              hob api -X PUT /v1/sprites/demo -d '{"url_settings":{"auth":"public"}}'
              hob api -X DELETE /v1/sprites/demo/checkpoints/v2
            """)

    @Argument(help: "API path, e.g. /v1/sprites.")
    public var path: String = ""

    @Option(name: [.customShort("X"), .customLong("method")], help: ArgumentHelp("HTTP method.", valueName: "method"))
    public var method: String?

    @Option(name: [.customShort("d"), .customLong("data")], help: ArgumentHelp("Request body: JSON, @FILE or @-.", valueName: "body"))
    public var data: String?

    @Option(name: [.customShort("s"), .customLong("sprite")], help: ArgumentHelp("Make PATH relative to /v1/sprites/NAME.", valueName: "name"))
    public var sprite: String?

    @Flag(name: [.customShort("i"), .customLong("include")], help: "Print the status line and content type to stderr.")
    public var include = false

    public init() {}

    public func validate() throws {
        if path.isEmpty && sprite == nil { throw ValidationError("name a path, e.g. hob api /v1/sprites") }
        _ = try resolvedPath()
        if let method, method.isEmpty || !method.allSatisfy({ $0.isLetter }) {
            throw ValidationError("-X takes an HTTP method such as GET, POST, PUT or DELETE, not \(method)")
        }
    }

    /// The request's method: -X (upper-cased), else POST with a body and GET without.
    public var resolvedMethod: String { method?.uppercased() ?? (data == nil ? "GET" : "POST") }

    /// The path after the base URL.
    public func resolvedPath() throws -> String {
        var relative = path
        if !relative.isEmpty && !relative.hasPrefix("/") { relative = "/" + relative }
        let full: String
        if let sprite {
            guard !sprite.isEmpty, !sprite.contains("/") else { throw ValidationError("--sprite takes a sprite name, not \(sprite)") }
            full = "/v1/sprites/\(URLEncoding.component(sprite))" + relative
        } else {
            full = relative
        }
        guard full.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else {
            throw ValidationError("\(full) is not a path: encode spaces and other special characters as %XX")
        }
        return full
    }

    func body() throws -> [UInt8]? {
        guard let data else { return nil }
        guard data.hasPrefix("@") else { return Array(data.utf8) }
        let source = String(data.dropFirst())
        if source == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        guard let contents = FileManager.default.contents(atPath: source) else { throw CommandError("cannot read \(source)") }
        return Array(contents)
    }

    public func run() async throws {
        try await CommandFailure.reporting {
            let path = try resolvedPath()
            let response = try await Daemon.client().raw(resolvedMethod, path: path, body: try body())
            if include {
                StandardStream.printError("HTTP \(response.status)" + (response.contentType.map { " (\($0))" } ?? ""))
            }
            var out = response.body
            if let last = out.last, last != UInt8(ascii: "\n") { out.append(UInt8(ascii: "\n")) }
            guard StandardStream.write(STDOUT_FILENO, out) else { throw CommandError("cannot write to stdout") }
            if response.status >= 400 {
                if !include { StandardStream.printError("hob: \(resolvedMethod) \(path) answered HTTP \(response.status)") }
                throw ExitCode.failure
            }
        }
    }
}
