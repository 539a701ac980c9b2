// `hob exec`: run one command in a sprite over the exec WebSocket and exit with its status.

import ArgumentParser
import Foundation
import HobAPI
import HobClient

public struct Exec: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Run a command in a sprite.",
        discussion: """
            Output is copied to stdout and stderr as it arrives, and hob exits with the command's exit status. \
            Piped stdin is forwarded (then closed); a terminal stdin is not, unless --tty is given. With --tty the \
            command gets a pseudo-terminal sized like yours and your terminal runs raw; Ctrl+\\ detaches and \
            leaves the command running.

            Examples:
              hob exec demo -- uname -a
              echo hello | hob exec demo -- tr a-z A-Z
              hob exec demo --env DEBUG=1 --dir /srv/app -- make test
              hob exec -t demo -- htop
              hob exec demo --file ./build.sh:/tmp/build.sh -- /tmp/build.sh
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Flag(name: .shortAndLong, help: "Allocate a pseudo-terminal (interactive programs).")
    public var tty = false

    @Option(name: .customLong("env"), help: ArgumentHelp("Set an environment variable (repeatable).", valueName: "K=V"))
    public var environment: [String] = []

    @Option(help: ArgumentHelp("Working directory (default: the sprite's home directory).", valueName: "dir"))
    public var dir: String?

    @Option(
        name: .customLong("file"),
        help: ArgumentHelp(
            "Copy a local file into the sprite before running, keeping its mode (repeatable; a relative dest is under --dir).",
            valueName: "src:dest"))
    public var files: [String] = []

    @Argument(parsing: .remaining, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    public var command: [String] = []

    public init() {}

    public func validate() throws {
        guard !command.isEmpty else { throw ValidationError("missing the command to run, e.g. hob exec \(name) -- ls -la") }
        for item in environment { _ = try KeyValueArgument.split(item, flag: "--env") }
        for item in files {
            do { _ = try ExecFileUpload.parse(item, directory: dir) } catch { throw ValidationError("\(error)") }
        }
    }

    /// The exec query for this invocation. `TERM` comes from `localTerm` with --tty unless --env sets it.
    public func parameters(stdinIsTerminal: Bool, size: TerminalSize, localTerm: String?) -> ExecParameters {
        var env = environment
        if tty && !env.contains(where: { $0.hasPrefix("TERM=") }) {
            env.append("TERM=" + (localTerm.flatMap { $0.isEmpty ? nil : $0 } ?? "xterm-256color"))
        }
        return ExecParameters(
            command: command, environment: env, directory: dir, tty: tty, rows: UInt16(clamping: size.rows),
            cols: UInt16(clamping: size.cols), stdin: tty || !stdinIsTerminal)
    }

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            let stdinIsTerminal = StandardStream.isTerminal(STDIN_FILENO)
            let params = parameters(
                stdinIsTerminal: stdinIsTerminal, size: TerminalSize.current(),
                localTerm: ProcessInfo.processInfo.environment["TERM"])
            let client = try Daemon.client()
            for item in files { try await ExecFileUpload.parse(item, directory: dir).upload(to: name, client: client) }
            let connection = try await client.exec(name, params)
            let session = TerminalSession(
                sprite: name, tty: tty, nonTTYStdin: stdinIsTerminal ? .closeImmediately : .stream)
            let outcome = await session.run(connection)
            let status = SessionExit.status(for: outcome, sprite: name, tty: tty && stdinIsTerminal)
            if status != 0 { throw ExitCode(status) }
        }
    }
}
