// fs/watch and restore: the watch is on the disk it began with, so when a restore replaces that
// disk the connection is closed (1012) for the client to watch the new one.
import Foundation
import Testing

extension HobIntegration {
    @Suite("fs/watch after a restore", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct FsWatchRestoreTests {
        @Test("a restore closes the watch connection with 1012; a new connection sees the restored disk")
        func restoreCloses() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let checkpoint = try await daemon.checkpoint(name)
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/fs/watch")
                defer { socket.close() }
                try socket.sendText(#"{"type":"subscribe","paths":["/home/sprite"]}"#)
                let ack = try await offPool { try socket.nextJSON(["subscribed"]) }
                #expect(ack?["paths"] as? [String] == ["/home/sprite"], "\(String(describing: ack))")
                try await daemon.restore(name, checkpoint)
                var closed: Int?? = nil
                while closed == nil, let message = try await offPool({ try socket.next(timeout: .seconds(10)) }) {
                    if case .closed(let code) = message { closed = .some(code) }
                }
                #expect(closed == .some(1012), "\(String(describing: closed))")

                let again = try await daemon.openSocket("/v1/sprites/\(name)/fs/watch")
                defer { again.close() }
                try again.sendText(#"{"type":"subscribe","paths":["/home/sprite"]}"#)
                _ = try await offPool { try again.nextJSON(["subscribed"]) }
                let wrote = try await daemon.sh(name, "printf hi > /home/sprite/after-restore")
                #expect(wrote.succeeded, "\(wrote)")
                let event = try await offPool { try again.nextJSON(["event"], timeout: .seconds(10)) }
                #expect(event?["path"] as? String == "/home/sprite/after-restore", "\(String(describing: event))")
            }
        }
    }
}
