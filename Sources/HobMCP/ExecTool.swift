// `exec`: run a shell command in a sprite and answer with its exit code and output, within a
// time limit and an output cap, because a model's context is small and its client waits.
import HobAPI
import HobClient
import MCP

extension HobTool {
    /// Python's MCP client gives up on a silent call after 300 s: a command must end before that.
    static let execTimeout = (default: 120, max: 280)
    static let execOutput = (default: 64 << 10, max: 1 << 20)

    static let execTool = HobTool(
        "exec", title: "Run a command in a sprite",
        description: """
            Run a shell command (bash -c) as root in a sprite and wait for it to finish. Returns the exit code, stdout \
            and stderr. The sprite is woken if it sleeps; files and installed packages persist between calls, but each \
            call is a new shell (use cwd, and chain with && or ;). For long-running servers, start them in the \
            background (nohup … &) or as a service. Output longer than max_output_bytes keeps its beginning and end. \
            A command still running after timeout_seconds is killed.
            """,
        properties: [
            "sprite": Schema.sprite,
            "command": Schema.string("The shell command, e.g. \"apt-get install -y jq && jq --version\"."),
            "cwd": Schema.string("Working directory (default: /home/sprite if it exists, else /)."),
            "env": Schema.stringMap("Extra environment variables."),
            "stdin": Schema.string("Text to give the command on its standard input."),
            "timeout_seconds": Schema.integer(
                "Seconds before the command is killed (default \(execTimeout.default)).", minimum: 1, maximum: execTimeout.max),
            "max_output_bytes": Schema.integer(
                "Largest stdout and stderr returned, each (default \(execOutput.default)).", minimum: 1024, maximum: execOutput.max),
        ],
        required: ["sprite", "command"], hints: .init(destructiveHint: true, idempotentHint: false, openWorldHint: true)
    ) { args, client in
        let stdin = try args.string("stdin")
        let params = ExecParameters(
            command: ["bash", "-c", try args.requiredString("command")],
            environment: try args.stringMap("env").sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            directory: try args.string("cwd"), stdin: stdin != nil)
        let outcome = try await ExecCapture.run(
            client: client, sprite: try args.requiredString("sprite"), params, stdin: stdin.map { Array($0.utf8) },
            timeout: .seconds(try args.int("timeout_seconds", default: execTimeout.default, in: 1...execTimeout.max)),
            cap: try args.int("max_output_bytes", default: execOutput.default, in: 1024...execOutput.max))
        return outcome.output
    }
}

/// A command's run as the tool reports it.
struct ExecOutcome: Sendable {
    var exitCode: Int?
    var stdout: CappedOutput
    var stderr: CappedOutput
    var timedOut: Bool
    var timeout: Duration

    var output: ToolOutput {
        var lines: [String] = []
        if timedOut {
            lines.append("timed out after \(timeout.components.seconds) s; the command was killed" + (exitCode.map { " (exit code \($0))" } ?? ""))
        } else if let exitCode {
            lines.append("exit code \(exitCode)")
        } else {
            lines.append("the connection ended before the command reported an exit code")
        }
        for (name, stream) in [("stdout", stdout), ("stderr", stderr)] where stream.total > 0 {
            lines.append("\(name)\(stream.isTruncated ? " (\(stream.total) bytes, middle left out)" : ""):")
            let text = stream.text
            lines.append(text.hasSuffix("\n") ? String(text.dropLast()) : text)
        }
        if stdout.total == 0 && stderr.total == 0 { lines.append("(no output)") }
        let structured: Value = .object([
            "exit_code": exitCode.map { .int($0) } ?? .null,
            "stdout": .string(stdout.text),
            "stderr": .string(stderr.text),
            "timed_out": .bool(timedOut),
            "truncated": .bool(stdout.isTruncated || stderr.isTruncated),
        ])
        return ToolOutput(text: lines.joined(separator: "\n"), structured: structured, isError: timedOut || exitCode == nil)
    }
}

enum ExecCapture {
    /// Time a killed command's session gets to report its exit before the connection is closed.
    static let killGrace: Duration = .seconds(5)

    static func run(
        client: HobClient, sprite: String, _ params: ExecParameters, stdin: [UInt8]?, timeout: Duration, cap: Int
    ) async throws -> ExecOutcome {
        let connection = try await client.exec(sprite, params)
        if let stdin {
            // A command that exits without reading its input refuses the rest, as a closed pipe
            // does: its exit code and output still come, so this is not the call's failure.
            try? await connection.sendStdin(stdin)
            try? await connection.sendEOF()
        }
        // Past the deadline the command is killed, and its exit (137) still reported; a session
        // that cannot even say that is cut off after `killGrace`.
        let deadline = Task { () -> Bool in
            do { try await Task.sleep(for: timeout) } catch { return false }
            try? await connection.signal("KILL")
            do { try await Task.sleep(for: killGrace) } catch { return true }
            await connection.close()
            return true
        }
        var outcome = ExecOutcome(exitCode: nil, stdout: CappedOutput(limit: cap), stderr: CappedOutput(limit: cap), timedOut: false, timeout: timeout)
        for await event in connection.events {
            switch event {
            case .stdout(let bytes): outcome.stdout.append(bytes)
            case .stderr(let bytes): outcome.stderr.append(bytes)
            case .exit(let code): outcome.exitCode = code
            case .sessionInfo, .closed: break
            }
        }
        deadline.cancel()
        outcome.timedOut = await deadline.value
        await connection.close()
        return outcome
    }
}

/// Output kept within a limit: all of it when it fits, else its first and last halves.
struct CappedOutput: Sendable {
    let limit: Int
    private(set) var total = 0
    private var head: [UInt8] = []
    /// What came after the first `limit` bytes, its last `limit` bytes at most.
    private var tail: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    var isTruncated: Bool { total > limit }

    mutating func append(_ bytes: [UInt8]) {
        total += bytes.count
        let room = limit - head.count
        head += bytes.prefix(room)
        guard bytes.count > room else { return }
        tail += bytes.dropFirst(room)
        if tail.count > 2 * limit { tail.removeFirst(tail.count - limit) }
    }

    var bytes: [UInt8] {
        guard isTruncated else { return head }
        let half = limit / 2
        let end = (head[half...] + tail).suffix(half)
        return Array(head.prefix(half)) + Array("\n[… \(total - 2 * half) bytes left out …]\n".utf8) + end
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
