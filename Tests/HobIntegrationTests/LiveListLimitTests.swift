// The live sprite list's bound (`--live-list-streams`): each open stream diffs the whole list twice
// a second, so past the limit a client gets 429 with Retry-After, and a slot frees when one closes.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Live list limit", .sharedDaemon("--live-list-streams", "2"), .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct LiveListLimitTests {
        static func request(port: Int, token: String) throws -> RawConnection {
            let connection = try RawConnection(port: port)
            try connection.send(
                "GET /v1/sprites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nAccept: application/x-ndjson\r\n\r\n")
            return connection
        }

        /// A live list opened: the connection, and the head of its (endless) answer.
        static func open(port: Int, token: String) throws -> (RawConnection, String) {
            let connection = try request(port: port, token: token)
            return (connection, try connection.readHead(deadline: .now + .seconds(30)) ?? "(closed)")
        }

        @Test("a third live list is 429 rate_limited with Retry-After while two are open, and 200 once one closes")
        func bounded() async throws {
            let daemon = try DaemonFixture.shared()
            let (port, token) = (daemon.port, daemon.token)
            let (heads, refusal) = try await offPool {
                let first = try Self.open(port: port, token: token)
                let second = try Self.open(port: port, token: token)
                defer { second.0.close() }
                let third = try Self.request(port: port, token: token)
                let refusal = try third.readResponse(to: "GET", deadline: .now + .seconds(30))
                third.close()
                first.0.close()
                return ([first.1, second.1], refusal)
            }
            #expect(heads.map { RawHTTP.status(of: $0) } == [200, 200], "\(heads)")
            #expect(refusal?.status == 429, "\(String(describing: refusal))")
            #expect(refusal?.header("retry-after") == "5", "\(String(describing: refusal))")
            #expect(refusal?.text.contains("\"rate_limited\"") == true, "\(String(describing: refusal))")
            // The closed stream's slot comes back (its unsubscribe follows the connection's end).
            let reopened = await eventually(timeout: .seconds(10)) {
                let status = try? await offPool {
                    let (connection, head) = try Self.open(port: port, token: token)
                    connection.close()
                    return RawHTTP.status(of: head)
                }
                return status == 200
            }
            #expect(reopened)
        }
    }
}
