// The fs/watch WebSocket as a client sees it: subscribe, then changes the sprite makes appear.
import Foundation
import Testing

extension HobIntegration {
    @Suite("fs/watch", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct FsWatchTests {
        @Test("a change made in the sprite under a subscribed path arrives as an event")
        func changesArrive() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let made = try await daemon.sh(name, "mkdir -p /home/sprite/app/src")
                #expect(made.succeeded, "\(made)")
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/fs/watch")
                defer { socket.close() }
                try socket.sendText(#"{"type":"subscribe","paths":["app"],"recursive":true,"workingDir":"/home/sprite"}"#)
                let ack = try await offPool { try socket.nextJSON(["subscribed", "error"]) }
                #expect(ack?["type"] as? String == "subscribed" && ack?["paths"] as? [String] == ["/home/sprite/app"], "\(String(describing: ack))")
                let wrote = try await daemon.sh(name, "printf hello > /home/sprite/app/src/main.txt")
                #expect(wrote.succeeded, "\(wrote)")
                var seen: [JSONMessage] = []
                while let event = try await offPool({ try socket.nextJSON(["event"], timeout: .seconds(10)) }) {
                    seen.append(event)
                    if event["path"] as? String == "/home/sprite/app/src/main.txt", event["event"] as? String == "modify" { break }
                }
                let created = seen.first { $0["path"] as? String == "/home/sprite/app/src/main.txt" }
                #expect(created?["event"] as? String == "create", "\(seen)")
                #expect(created?["isDir"] as? Bool == false && created?["timestamp"] as? String != nil, "\(seen)")
                #expect(seen.contains { $0["event"] as? String == "modify" && $0["size"] as? Int == 5 }, "\(seen)")
            }
        }

        @Test("a path that does not exist is refused with an error message, and the socket stays usable")
        func badPath() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let socket = try await daemon.openSocket("/v1/sprites/\(name)/fs/watch")
                defer { socket.close() }
                try socket.sendText(#"{"type":"subscribe","paths":["/no/such/dir"]}"#)
                let error = try await offPool { try socket.nextJSON(["error"]) }
                #expect(error?["path"] as? String == "/no/such/dir" && error?["message"] != nil, "\(String(describing: error))")
                let none = try await offPool { try socket.nextJSON(["subscribed"]) }
                #expect(none?["paths"] as? [String] == [], "\(String(describing: none))")
                try socket.sendText(#"{"type":"subscribe","paths":["/tmp"]}"#)
                let ack = try await offPool { try socket.nextJSON(["subscribed"]) }
                #expect(ack?["paths"] as? [String] == ["/tmp"], "\(String(describing: ack))")
            }
        }

        @Test("fs/watch on an unknown sprite is a 404 with the Sprites error body")
        func unknownSprite() async throws {
            let daemon = try DaemonFixture.shared()
            do {
                _ = try await daemon.openSocket("/v1/sprites/no-such-sprite/fs/watch")
                Issue.record("the upgrade was accepted")
            } catch let failure as TestFailure {
                #expect(failure.description.contains(" 404 ") && failure.description.contains("not_found"), "\(failure)")
            }
        }
    }
}
