// `hob install` as systemd would use it, without systemd: the unit is written into a temporary
// directory, its ExecStart is started exactly as written, stopped with its KillSignal within its
// TimeoutStopSec, the binaries are replaced (`hob install` again, the upgrade path) and the unit
// started again. Every sprite must come back, with its disk.
import Foundation
import Testing

extension HobIntegration {
    @Suite("hob install", .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct InstallServiceTests {
        @Test("stop, reinstall, start: the installed service comes back with every sprite and its files")
        func upgradePath() async throws {
            let daemon = try DaemonFixture.prepare()
            do {
                try await upgrade(daemon)
            } catch {
                await daemon.tearDown()
                throw error
            }
            await daemon.tearDown()
        }

        func upgrade(_ daemon: DaemonFixture) async throws {
            let unit = try await install(daemon)
            #expect(unit.execStart.first == daemon.root.path + "/bin/hob", "\(unit.execStart)")
            #expect(unit.service["Restart"] == "on-failure")
            #expect(FileManager.default.isExecutableFile(atPath: daemon.root.path + "/bin/hob-init"))
            for script in ["hob.bash", "_hob", "hob.fish"] {
                let text = (try? String(contentsOfFile: daemon.root.path + "/completions/" + script, encoding: .utf8)) ?? ""
                #expect(text.contains("checkpoint"), "\(script) does not complete hob's commands")
            }
            try await verify(unit, daemon)

            try await daemon.start(command: unit.execStart)
            let awake = TestEnvironment.spriteName("inst")
            let asleep = TestEnvironment.spriteName("inst")
            let content = TestEnvironment.randomName(24)
            try await daemon.createSprite(awake)
            try await daemon.createSprite(asleep)
            let written = try await daemon.sh(awake, "echo \(content) > /root/kept && sync")
            #expect(written.succeeded, "\(written)")
            let sleeping = try await daemon.sh(asleep, "echo zzz > /root/kept")
            #expect(sleeping.succeeded, "\(sleeping)")
            #expect(try await daemon.sleep(asleep).status < 300)
            try await daemon.waitForStatus(asleep, "warm", timeout: .seconds(20))

            // An upgrade while the daemon runs from the bin directory: the binary is busy, the
            // replacement must still work (rename, not overwrite).
            _ = try await install(daemon)
            let status = await daemon.stop(signal: unit.killSignal, timeout: .seconds(unit.timeoutStopSeconds))
            #expect(status == 0, "hob serve exited with \(status.map(String.init) ?? "nothing") on \(unit.service["KillSignal"] ?? "?")\n\(daemon.logTail())")
            // The documented path: stop, replace the binaries, start.
            let again = try await install(daemon)
            #expect(again.execStart == unit.execStart)
            try await daemon.restart()

            let list = try await daemon.http("GET", "/v1/sprites")
            let sprites = (list.json?["sprites"] as? [[String: Any]]) ?? []
            let states = Dictionary(sprites.compactMap { s in (s["name"] as? String).map { ($0, s["status"] as? String ?? "?") } }) { a, _ in a }
            #expect(states[awake] == "cold", "\(states)")
            #expect(states[asleep] == "cold", "\(states)")
            let kept = try await daemon.exec(awake, ["cat", "/root/kept"])
            #expect(kept.stdout == content + "\n", "\(kept)\n\(daemon.logTail())")
            let keptAsleep = try await daemon.exec(asleep, ["cat", "/root/kept"])
            #expect(keptAsleep.stdout == "zzz\n", "\(keptAsleep)")
            try await daemon.waitForStatus(awake, "running", timeout: .seconds(10))
        }

        /// `hob install` into the fixture's directory, never starting anything; returns the unit.
        func install(_ daemon: DaemonFixture) async throws -> InstalledUnit {
            let dir = daemon.root.path
            let arguments = [
                "install", "--bin-dir", dir + "/bin", "--unit-dir", dir + "/unit", "--completions-dir", dir + "/completions",
                "--no-start", "--state-dir", daemon.stateDirectory, "--listen", "127.0.0.1:\(daemon.port)",
                "--", "--instance", daemon.instance, "--subnet", daemon.subnet, "--url-listen", "127.0.0.1:\(daemon.urlPort)",
            ]
            let result = try await HostProcess.run(daemon.binary, arguments)
            guard result.succeeded else { throw TestFailure("hob install failed: \(result)") }
            return try InstalledUnit(path: dir + "/unit/hob.service")
        }

        /// `systemd-analyze verify`, which works without systemd as PID 1: no warning may name the unit.
        func verify(_ unit: InstalledUnit, _ daemon: DaemonFixture) async throws {
            guard (try? ChildProcess.resolve("systemd-analyze")) != nil else { return }
            let result = try await HostProcess.run("systemd-analyze", ["verify", unit.path])
            let complaints = (result.stdout + result.stderr).lines.filter { $0.contains("hob.service") }
            #expect(complaints.isEmpty, "\(result)")
        }
    }
}

/// An installed hob.service, read back the way systemd reads it (only what the test needs).
struct InstalledUnit {
    let path: String
    /// `[Service]` settings, the last value of each key.
    let service: [String: String]
    /// ExecStart split into words as systemd splits it.
    let execStart: [String]

    init(path: String) throws {
        self.path = path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var section = ""
        var service: [String: String] = [:]
        for line in text.lines where !line.hasPrefix("#") {
            if line.hasPrefix("[") {
                section = line
            } else if section == "[Service]", let equals = line.firstIndex(of: "=") {
                service[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        self.service = service
        guard let exec = service["ExecStart"] else { throw TestFailure("no ExecStart in \(path):\n\(text)") }
        execStart = Self.words(exec)
    }

    var killSignal: Int32 {
        ["SIGTERM": SIGTERM, "SIGINT": SIGINT, "SIGKILL": SIGKILL][service["KillSignal"] ?? "SIGTERM"] ?? SIGTERM
    }

    /// TimeoutStopSec in seconds ("70s", "70", "2min").
    var timeoutStopSeconds: Int {
        let value = service["TimeoutStopSec"] ?? "90s"
        if value.hasSuffix("min") { return (Int(value.dropLast(3)) ?? 1) * 60 }
        return Int(value.hasSuffix("s") ? String(value.dropLast()) : value) ?? 90
    }

    /// systemd's command-line splitting: whitespace, double quotes, backslash escapes, `%%` and `$$`.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quoted = false
        var characters = Array(line)[...]
        while let c = characters.popFirst() {
            switch c {
            case "\\": if let next = characters.popFirst() { word.append(next) }
            case "\"": quoted.toggle()
            case "%", "$":
                if characters.first == c { characters.removeFirst() }
                word.append(c)
            case " " where !quoted:
                if inWord { words.append(word) }
                word = ""
                inWord = false
                continue
            default: word.append(c)
            }
            inWord = true
        }
        if inWord { words.append(word) }
        return words
    }
}
