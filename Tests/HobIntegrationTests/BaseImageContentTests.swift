// What a new sprite has: the commands the Sprites SDK examples run (`python -c …`, `python -m
// http.server`) and the tools scripts reach for, from the current image version.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Base image content", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct BaseImageContentTests {
        @Test("python is Python 3, as `python -c` in the SDK examples expects")
        func pythonIsPython3() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let result = try await daemon.exec(name, ["python", "-c", "import sys; print(sys.version_info.major, 2 + 2)"])
                #expect(result.succeeded, "\(result)")
                #expect(result.stdout == "3 4\n", "\(result)")
            }
        }

        @Test("curl, git, jq, unzip and pip are on PATH, and a venv can be made")
        func toolsAndVenv() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let tools = try await daemon.sh(name, "for t in python3 pip pip3 curl git jq unzip; do command -v $t >/dev/null || { echo missing $t; exit 1; }; done")
                #expect(tools.succeeded, "\(tools)")
                let venv = try await daemon.sh(name, "python -m venv /tmp/venv && /tmp/venv/bin/python -c 'import sys; print(sys.prefix)'")
                #expect(venv.succeeded && venv.stdout == "/tmp/venv\n", "\(venv)")
            }
        }

        @Test("a new sprite reports the current image version, bookworm-v5")
        func environmentVersion() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let info = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect(info.json?["environment_version"] as? String == "bookworm-v5", "\(info)")
            }
        }

        @Test("a sprite made from an older image keeps reporting that image's version")
        func olderSpriteKeepsItsVersion() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let id = try await daemon.spriteID(name)
                // What the previous version's daemon left: the older image in the pool, and the
                // sprite's v0 on it. (A copy of the current image stands in for the older one.)
                let images = daemon.stateDirectory + "/pool/images"
                try await HostProcess.check("btrfs", ["subvolume", "snapshot", "-r", "\(images)/bookworm-v5", "\(images)/bookworm-v4"])
                #expect(await daemon.stop() == 0)
                let update = """
                    import sqlite3, sys
                    db = sqlite3.connect(sys.argv[1])
                    db.execute("UPDATE checkpoint SET volume = 'images/bookworm-v4' WHERE spriteID = ? AND id = 'v0'", (sys.argv[2],))
                    db.commit()
                    """
                let edited = try await HostProcess.run(TinyHTTPServer.hostPython, ["-c", update, daemon.stateDirectory + "/hob.db", id])
                #expect(edited.succeeded, "\(edited)")
                try await daemon.restart()
                let info = try await daemon.http("GET", "/v1/sprites/\(name)")
                #expect(info.json?["environment_version"] as? String == "bookworm-v4", "\(info)")
                // Upgrade answers with, and accepts, the version the sprite runs; the newest image is not on offer.
                let upgrade = try await daemon.http("POST", "/v1/sprites/\(name)/upgrade", body: Data(#"{"version":"bookworm-v4"}"#.utf8))
                #expect(upgrade.status == 200 && upgrade.json?["version"] as? String == "bookworm-v4", "\(upgrade)")
                let newer = try await daemon.http("POST", "/v1/sprites/\(name)/upgrade", body: Data(#"{"version":"bookworm-v5"}"#.utf8))
                #expect(newer.status == 400, "\(newer)")
            }
        }
    }
}
