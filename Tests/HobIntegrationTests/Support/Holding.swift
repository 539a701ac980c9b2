// Running something in a sprite that holds a resource (connections, PTYs, CPU) while the test
// looks at everyone else.
import Foundation
import Synchronization
import Testing

/// Set once the background script ended (so waiting for it to get ready can stop early).
private final class Ended: Sendable {
    let value = Mutex(false)
}

extension DaemonFixture {
    /// Runs `script` (sh) in `sprite` in the background of the test. The script writes
    /// /tmp/hob-ready when it holds what it takes, and should let go once /tmp/hob-release
    /// exists. `body` runs in between; then the release file is made and the script's result
    /// returned.
    func holding(
        _ sprite: String, _ script: String, timeout: Duration = .seconds(120), _ body: () async throws -> Void
    ) async throws -> ExecResult {
        _ = try await sh(sprite, "rm -f /tmp/hob-ready /tmp/hob-release")
        let ended = Ended()
        let run = Task {
            defer { ended.value.withLock { $0 = true } }
            return try await self.exec(sprite, ["sh", "-c", script], timeout: timeout)
        }
        var ready = false
        _ = await eventually(timeout: timeout) {
            ready = (try? await self.exec(sprite, ["test", "-e", "/tmp/hob-ready"]))?.succeeded == true
            return ready || ended.value.withLock { $0 }
        }
        var failure: (any Error)?
        if ready {
            do { try await body() } catch { failure = error }
        }
        _ = try? await sh(sprite, "touch /tmp/hob-release")
        let result = try await run.value
        if let failure { throw failure }
        guard ready else { throw TestFailure("the script in \(sprite) never got ready: \(result)") }
        return result
    }
}
