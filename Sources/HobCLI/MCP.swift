// `hob mcp`: Hob's tools for an AI agent, as an MCP server on stdin/stdout (HobMCP).

import ArgumentParser
import Foundation
import HobClient
import HobMCP
import Logging

#if canImport(Glibc)
import Glibc
#endif

public struct MCP: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve Hob's tools to an AI agent over MCP (stdio).",
        discussion: """
            Speaks the Model Context Protocol on stdin and stdout until the client closes stdin. The tools \
            (list_sprites, create_sprite, exec, read_file, write_file, create_checkpoint, restore_checkpoint, \
            fork_sprite, …) act with the token hob finds as every command does: HOB_API_URL and HOB_TOKEN, \
            then `hob login`, then the local daemon's admin token. Give an agent a token limited to what it \
            should touch (`hob token create --help`). Logs go to stderr. The daemon serves the same tools over \
            HTTP at /mcp (docs/MCP.md).

            Examples:
              claude mcp add hob -- hob mcp
              HOB_TOKEN=$(hob token create --prefix agent- --json | jq -r .token) hob mcp
            """)

    @Option(help: "Log level on stderr: trace, debug, info, notice, warning, error.")
    var logLevel: String = "warning"

    public init() {}

    public func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error")
        }
    }

    public func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // A reply written after the client has gone must be an error, not a signal.
        signal(SIGPIPE, SIG_IGN)
        try await CommandFailure.reporting {
            try await HobMCP.serveStdio(client: try Daemon.client(), logger: Logger(label: "hob.mcp"))
        }
    }
}
