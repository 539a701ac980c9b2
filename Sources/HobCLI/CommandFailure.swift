// How commands fail: one line `hob: <message>` on stderr and exit status 1, never a Swift backtrace.
// ArgumentParser's own exits (ValidationError → 64, ExitCode, CleanExit) pass through untouched.

import ArgumentParser
import HobAPI
import HobClient

/// A failure the CLI itself detects (as opposed to one the daemon reports).
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What a command was working on, so a 404 can say which sprite, session or checkpoint is missing.
enum Subject {
    case none
    case sprite(String)
    case session(sprite: String, id: String)
    case checkpoint(sprite: String, id: String)
    case service(sprite: String, name: String)
    /// A path in the sprite's files.
    case file(sprite: String)
}

enum CommandFailure {
    /// Runs `body`; any other error is printed as `hob: <message>` and becomes exit status 1.
    static func reporting(_ subject: Subject = .none, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            StandardStream.printError("hob: \(message(for: error, subject))")
            throw ExitCode.failure
        }
    }

    static func message(for error: any Error, _ subject: Subject) -> String {
        guard let error = error as? HobClientError else { return "\(error)" }
        if error.code == .unauthorized {
            // 403: the token is good but its caveats do not allow this; the server says which.
            let said = error.body?.message ?? ""
            if error.status == 403 { return said.isEmpty ? "permission denied: this token may not do that" : "permission denied: \(said)" }
            return said.isEmpty ? "unauthorized: check your token (hob login)" : "unauthorized: \(said); check your token (hob login)"
        }
        if error.code == .notFound {
            switch subject {
            case .sprite(let name):
                return "sprite \(name) not found"
            case .session(let name, let id):
                // The same 404 covers a missing sprite and a missing session; the server's message tells which.
                if let message = error.body?.message, !message.isEmpty { return message }
                return "session \(id) not found on sprite \(name)"
            case .checkpoint(let name, let id):
                // As for sessions: the server's message says whether the sprite or the checkpoint is missing.
                if let message = error.body?.message, !message.isEmpty { return message }
                return "checkpoint \(id) not found on sprite \(name)"
            case .service(let name, let service):
                if let message = error.body?.message, !message.isEmpty { return message }
                return "service \(service) not found on sprite \(name)"
            case .file(let name):
                // Says whether the sprite or the file is missing ("read /x: no such file or directory").
                if let message = error.body?.message, !message.isEmpty { return message }
                return "not found on sprite \(name)"
            case .none:
                break
            }
        }
        return error.message
    }
}
