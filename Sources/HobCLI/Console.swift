// `hob console`: an interactive login shell in a sprite. Ctrl+\ detaches; the shell keeps running.

import ArgumentParser
import Foundation
import HobAPI
import HobClient

public struct Console: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Open an interactive shell in a sprite.",
        discussion: """
            Runs a login shell (/bin/bash -l) on a pseudo-terminal sized like yours. Press Ctrl+\\ to detach: \
            the shell keeps running and `hob sessions attach NAME ID` returns to it. Needs a terminal; for \
            scripts use `hob exec`.

            Examples:
              hob console demo
              hob console demo --command 'tmux new -A -s main'
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Option(help: ArgumentHelp("Run this shell command instead of a login shell (through /bin/sh -c).", valueName: "command"))
    public var command: String?

    public init() {}

    public func validate() throws {
        if let command, command.trimmingWhitespace().isEmpty { throw ValidationError("--command must not be empty") }
    }

    /// The exec query: a TTY running the command, with TERM from `localTerm` (default xterm-256color).
    public func parameters(size: TerminalSize, localTerm: String?) -> ExecParameters {
        let argv = command.map { ["/bin/sh", "-c", $0] } ?? ["/bin/bash", "-l"]
        let term = localTerm.flatMap { $0.isEmpty ? nil : $0 } ?? "xterm-256color"
        return ExecParameters(
            command: argv, environment: ["TERM=" + term], tty: true, rows: UInt16(clamping: size.rows),
            cols: UInt16(clamping: size.cols), stdin: true)
    }

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            guard StandardStream.isTerminal(STDIN_FILENO) else {
                throw CommandError("console needs a terminal on stdin; for scripts use `hob exec \(name) -- COMMAND`")
            }
            let params = parameters(size: TerminalSize.current(), localTerm: ProcessInfo.processInfo.environment["TERM"])
            let connection = try await Daemon.client().exec(name, params)
            let outcome = await TerminalSession(sprite: name, tty: true, nonTTYStdin: .stream).run(connection)
            let status = SessionExit.status(for: outcome, sprite: name, tty: true)
            if status != 0 { throw ExitCode(status) }
        }
    }
}
