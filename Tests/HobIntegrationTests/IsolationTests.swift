// What a sprite cannot see or touch: the host's processes, users, disks and services, and other sprites.
// Commands run over the exec WebSocket, so these tests do not depend on the CLI.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Isolation", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct IsolationTests {
        @Test("a sprite sees only its own processes")
        func pidNamespace() async throws {
            let daemon = try DaemonFixture.shared()
            let daemonPID = try #require(daemon.pid)
            try await daemon.withSprite { name in
                let ps = try await daemon.exec(name, ["ps", "-e", "-o", "pid=,comm="])
                #expect(ps.succeeded, "\(ps)")
                let processes = ps.stdout.lines.map { line -> (pid: Int, command: String) in
                    let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
                    return (Int(fields[0]) ?? -1, fields.count > 1 ? fields[1].trimmed : "")
                }
                #expect(processes.first { $0.pid == 1 }?.command == "hob-init", "\(ps.stdout)")
                #expect(!processes.contains { $0.command == "hob" }, "the daemon is visible: \(ps.stdout)")
                #expect(processes.count <= 5, "\(ps.stdout)")

                let kill = try await daemon.sh(name, "kill -0 \(daemonPID)")
                #expect(!kill.succeeded, "the daemon's host pid \(daemonPID) answers from inside: \(kill)")
            }
        }

        @Test("root in a sprite maps to an unprivileged host uid")
        func userNamespace() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let map = try await daemon.exec(name, ["cat", "/proc/self/uid_map"])
                #expect(map.succeeded, "\(map)")
                let fields = map.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
                #expect(fields.count == 3, "\(map.stdout)")
                #expect(fields.first == 0, "\(map.stdout)")
                #expect(fields.count > 1 && fields[1] >= 65536, "root maps to host uid \(fields.dropFirst().first ?? -1)")
            }
        }

        @Test("a sprite's processes run as that unprivileged uid on the host")
        func hostUIDOfSpriteProcesses() async throws {
            let daemon = try DaemonFixture.shared()
            let seconds = 4_321_000 + Int.random(in: 0..<1000)
            try await daemon.withSprite { name in
                let started = try await daemon.sh(name, "(sleep \(seconds) >/dev/null 2>&1 &)")
                #expect(started.succeeded, "\(started)")
                var pids: [String] = []
                let found = await eventually(timeout: .seconds(5)) {
                    pids = (try? await HostProcess.run("pgrep", ["-f", "^sleep \(seconds)$"]))?.stdout.lines ?? []
                    return !pids.isEmpty
                }
                #expect(found, "no `sleep \(seconds)` process on the host")
                for pid in pids {
                    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
                    for key in ["Uid:", "Gid:"] {
                        let line = try #require(status.lines.first { $0.hasPrefix(key) })
                        let ids = line.dropFirst(key.count).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
                        #expect(ids.count == 4 && ids.allSatisfy { $0 >= 65536 }, "pid \(pid) \(line)")
                    }
                }
            }
        }

        @Test("a sprite cannot mount the host's disk and has no block devices")
        func noHostDisk() async throws {
            let daemon = try DaemonFixture.shared()
            let source = try await HostProcess.check("findmnt", ["-n", "-o", "SOURCE", "/"])
            var script = """
                mount \(shellQuote(source)) /mnt 2>/dev/null; echo "mount-host-source $?"
                echo "block-devices $(find /dev -type b 2>/dev/null | wc -l)"
                """
            // With the host disk's device numbers, try to make its node inside the sprite and mount that.
            let numbers = try await blockDeviceNumbers(source)
            if let (major, minor) = numbers {
                script += """

                    mknod /tmp/host-disk b \(major) \(minor) 2>/dev/null; echo "mknod $?"
                    mount /tmp/host-disk /mnt 2>/dev/null; echo "mount-made-node $?"
                    """
            }
            try await daemon.withSprite { name in
                let result = try await daemon.sh(name, script)
                #expect(result.succeeded, "\(result)")
                var outcome: [String: Int] = [:]
                for line in result.stdout.lines {
                    let words = line.split(separator: " ")
                    if words.count == 2, let value = Int(words[1]) { outcome[String(words[0])] = value }
                }
                #expect(outcome["mount-host-source"].map { $0 != 0 } == true, "mounting \(source) worked: \(result.stdout)")
                #expect(outcome["block-devices"] == 0, "\(result.stdout)")
                if numbers != nil {
                    #expect(outcome["mknod"].map { $0 != 0 } == true, "mknod of \(source)'s numbers worked: \(result.stdout)")
                    #expect(outcome["mount-made-node"].map { $0 != 0 } == true, "\(result.stdout)")
                }
            }
        }

        @Test("a sprite cannot see another sprite's files")
        func separateDisks() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { a in
                try await daemon.withSprite { b in
                    let written = try await daemon.sh(a, "echo top-secret > /root/secret && cat /root/secret")
                    #expect(written.stdout == "top-secret\n", "\(written)")
                    let seen = try await daemon.sh(b, "test -e /root/secret")
                    #expect(seen.exitCode == 1, "sprite B sees A's /root/secret: \(seen)")
                }
            }
        }

        @Test("a sprite cannot reach another sprite's services")
        func separateNetworks() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { a in
                try await daemon.withSprite { b in
                    let started = try await daemon.sh(a, "cd /tmp && " + TinyHTTPServer.backgroundCommand(bind: "0.0.0.0", port: 8000))
                    #expect(started.succeeded, "\(started)")
                    let servesItself = try await eventually(timeout: .seconds(15)) {
                        try await daemon.sh(a, "curl -s -m 2 http://127.0.0.1:8000/").stdout == TinyHTTPServer.response
                    }
                    #expect(servesItself, "sprite A cannot reach its own server on localhost:8000")
                    let address = try await daemon.sh(a, "hostname -I").stdout.split(separator: " ").first.map(String.init)
                    let addressOfA = try #require(address, "sprite A has no address")

                    let statuses = try await curlExitStatuses(daemon, in: b, ["http://\(addressOfA):8000/"])
                    #expect(statuses.values.allSatisfy { $0 != 0 }, "sprite B reached A at \(addressOfA): \(statuses)")
                }
            }
        }

        @Test("a sprite cannot reach the daemon's API")
        func apiUnreachable() async throws {
            let daemon = try DaemonFixture.shared()
            let hostAddress = try await HostNetworkFacts.mainAddress()
            try await daemon.withSprite { name in
                let gateway = try await daemon.sh(name, "ip route | awk '/default/ {print $3}'").stdout.trimmed
                #expect(!gateway.isEmpty)
                let urls = ([gateway] + (hostAddress.map { [$0] } ?? [])).map { "http://\($0):\(daemon.port)/v1/sprites" }
                let statuses = try await curlExitStatuses(daemon, in: name, urls)
                #expect(statuses.count == urls.count && statuses.values.allSatisfy { $0 != 0 }, "\(statuses)")
            }
        }

        @Test("a sprite cannot reach services the host offers on all its addresses")
        func hostServicesUnreachable() async throws {
            let daemon = try DaemonFixture.shared()
            let hostAddress = try await HostNetworkFacts.mainAddress()
            let port = try HostNetworkFacts.freeTCPPort()
            try await TinyHTTPServer.onHost(bind: "0.0.0.0", port: port) {
                try await daemon.withSprite { name in
                    let gateway = try await daemon.sh(name, "ip route | awk '/default/ {print $3}'").stdout.trimmed
                    let urls = ([gateway] + (hostAddress.map { [$0] } ?? [])).map { "http://\($0):\(port)/" }
                    let statuses = try await curlExitStatuses(daemon, in: name, urls)
                    #expect(statuses.count == urls.count && statuses.values.allSatisfy { $0 != 0 }, "\(statuses)")
                }
            }
        }

        @Test("a sprite reaches networks the host reaches, through NAT")
        func egress() async throws {
            let daemon = try DaemonFixture.shared()
            try await EgressTarget.with { target in
                try await daemon.withSprite { name in
                    let fetched = try await daemon.sh(name, "curl -s -S -m 5 \(target.url)")
                    #expect(fetched.succeeded, "\(fetched)")
                    #expect(fetched.stdout == TinyHTTPServer.response, "\(fetched)")
                }
            }
        }
    }
}

/// `curl -s -m 3` of each URL, side by side inside `sprite`; the exit status for each URL
/// (0 means it was reached, 7 refused, 28 timed out).
func curlExitStatuses(_ daemon: DaemonFixture, in sprite: String, _ urls: [String]) async throws -> [String: Int] {
    let script = urls.enumerated().map { "(curl -s -o /dev/null -m 3 \(shellQuote($0.element)); echo \"\($0.offset) $?\") &" }
        .joined(separator: "\n") + "\nwait"
    let result = try await daemon.sh(sprite, script)
    var statuses: [String: Int] = [:]
    for line in result.stdout.lines {
        let parts = line.split(separator: " ")
        if parts.count == 2, let index = Int(parts[0]), urls.indices.contains(index), let status = Int(parts[1]) {
            statuses[urls[index]] = status
        }
    }
    return statuses
}

/// Major and minor numbers of `path` if it is a block device on the host.
func blockDeviceNumbers(_ path: String) async throws -> (Int, Int)? {
    guard try await HostProcess.run("test", ["-b", path]).succeeded else { return nil }
    let hex = try await HostProcess.check("stat", ["-L", "-c", "%t %T", path]).split(separator: " ")
    guard hex.count == 2, let major = Int(hex[0], radix: 16), let minor = Int(hex[1], radix: 16) else { return nil }
    return (major, minor)
}
