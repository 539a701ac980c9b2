// Where the binaries are, who we are, and small helpers every integration test shares.
//
// These tests drive a real `hob serve` through its binary, plain HTTP, raw WebSocket frames and the
// `hob` CLI; they import no Hob module, so they keep working while the Swift APIs move.
import Foundation
import Testing

enum TestEnvironment {
    static let isRoot = geteuid() == 0

    /// The package root, found from this file's path (Tests/HobIntegrationTests/Support/…).
    static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url
    }()

    /// `hob` (daemon and CLI): `$HOB_BIN`, else `<repo>/.build/debug/hob`.
    static var hobBinary: String {
        ProcessInfo.processInfo.environment["HOB_BIN"].flatMap { $0.isEmpty ? nil : $0 }
            ?? repository.appendingPathComponent(".build/debug/hob").path
    }

    static func requireHobBinary() throws -> String {
        let path = hobBinary
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("no hob binary at \(path): build first (swift build), or set HOB_BIN")
        }
        return path
    }

    /// A random string of lowercase letters and digits.
    static func randomName(_ length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<length).map { _ in alphabet.randomElement()! })
    }

    /// A fresh sprite name, unique across runs.
    static func spriteName(_ prefix: String = "it") -> String { "\(prefix)-\(randomName(8))" }
}

/// A failure of the test machinery itself (a fixture that could not start, a command that hung).
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking work (sockets, waiting for processes) on its own thread, never on the
/// cooperative pool that the tests and their daemons' helpers share.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(200), _ condition: () async throws -> Bool)
    async rethrows -> Bool
{
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
    var lines: [String] { split(separator: "\n", omittingEmptySubsequences: true).map { String($0).trimmed } }
}

/// Single-quotes a word for `sh -c`.
func shellQuote(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }
