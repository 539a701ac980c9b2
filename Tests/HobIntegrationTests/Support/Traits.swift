// How the integration suites are organised and get their daemon.
//
// Every suite is nested in `HobIntegration`, which runs them one after another: each suite has its
// own daemon, and daemons running side by side disturb each other's host state (one that stops
// puts `ip_forward` back to what it found while another still routes its sprites).
import Testing

@Suite("Hob integration (root)", .serialized, .enabled(if: TestEnvironment.isRoot, "requires root"))
struct HobIntegration {}

/// Starts one daemon for a whole suite, shares it through `DaemonFixture.current`, attaches the
/// daemon's recent output to every failure in the suite, and tears everything down afterwards.
struct SharedDaemonTrait: SuiteTrait, TestScoping {
    var arguments: [String] = []
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let daemon = try await DaemonFixture.start(arguments: arguments)
        do {
            try await DaemonFixture.$current.withValue(daemon) {
                try await Self.attachingLog(of: daemon).provideScope(for: test, testCase: testCase, performing: function)
            }
        } catch {
            await daemon.tearDown()
            throw error
        }
        await daemon.tearDown()
    }

    static func attachingLog(of daemon: DaemonFixture) -> IssueHandlingTrait {
        .compactMapIssues { issue in
            var issue = issue
            issue.comments.append(Comment(rawValue: daemon.logTail()))
            return issue
        }
    }
}

extension Trait where Self == SharedDaemonTrait {
    /// One `hob serve` for the suite: `let daemon = try DaemonFixture.shared()` in its tests.
    static var sharedDaemon: Self { Self() }

    /// The same, with options added to `hob serve`.
    static func sharedDaemon(_ arguments: String...) -> Self { Self(arguments: arguments) }
}
