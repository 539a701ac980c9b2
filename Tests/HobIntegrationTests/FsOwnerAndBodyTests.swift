// fs/chown, `mkdir` on fs/write and the JSON body of fs/delete (issue 12, the official OpenAPI),
// and checkpoint `health` and `source_id`.
import Foundation
import Testing

extension HobIntegration {
    @Suite("File API: chown, mkdir, delete body; checkpoint health", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct FsOwnerAndBodyTests {
        @Test("chown sets uid and gid as the sprite sees them, and reports each path changed")
        func chown() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.writeFile(name, "/srv/app/a.txt", "a").status == 201)
                #expect(try await daemon.writeFile(name, "/srv/app/sub/b.txt", "b").status == 201)
                let one = try await daemon.fs("POST", name, "chown", json: ["path": "a.txt", "workingDir": "/srv/app", "uid": 1000, "gid": "1001"])
                #expect(one.status == 200, "\(one)")
                let affected = one.json?["affected"] as? [[String: Any]]
                #expect(one.json?["count"] as? Int == 1 && affected?.first?["path"] as? String == "/srv/app/a.txt", "\(one)")
                #expect(affected?.first?["uid"] as? Int == 1000 && affected?.first?["gid"] as? Int == 1001, "\(one)")
                #expect(try await daemon.exec(name, ["stat", "-c", "%u:%g", "/srv/app/a.txt"]).stdout == "1000:1001\n")

                let tree = try await daemon.fs("POST", name, "chown", json: ["path": "/srv/app", "uid": 1000, "recursive": true, "asRoot": true])
                #expect(tree.status == 200 && tree.json?["count"] as? Int == 4, "\(tree)")
                let owners = try await daemon.sh(name, "stat -c '%n %u:%g' /srv/app /srv/app/sub /srv/app/sub/b.txt")
                #expect(owners.stdout == "/srv/app 1000:0\n/srv/app/sub 1000:0\n/srv/app/sub/b.txt 1000:0\n", "\(owners)")
            }
        }

        @Test("chown through a symlink to an absolute path changes the sprite's file, never the host's")
        func chownSymlinkStaysInside() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.sh(name, "ln -s /etc/hostname /root/lnk && mkdir /root/d && ln -s /etc/passwd /root/d/pw").succeeded)
                var host = stat()
                #expect(lstat("/etc/hostname", &host) == 0)
                let hostOwner = (host.st_uid, host.st_gid)
                #expect(try await daemon.fs("POST", name, "chown", json: ["path": "/root/lnk", "uid": 4321, "gid": 4321]).status == 200)
                #expect(try await daemon.exec(name, ["stat", "-c", "%u", "/etc/hostname"]).stdout == "4321\n")
                #expect(lstat("/etc/hostname", &host) == 0 && (host.st_uid, host.st_gid) == hostOwner)
                // Below a directory a symlink is changed itself: its target keeps its owner.
                #expect(try await daemon.fs("POST", name, "chown", json: ["path": "/root/d", "uid": 1000, "gid": 1000, "recursive": true]).status == 200)
                let links = try await daemon.sh(name, "stat -c '%u' /etc/passwd; stat -c '%u' /root/d/pw")
                #expect(links.stdout == "0\n1000\n", "\(links)")
            }
        }

        @Test("chown: no ids, an id past 65535 or a word are 400; a missing path 404", arguments: [
            #"{"path":"/root"}"#, #"{"path":"/root","uid":70000}"#, #"{"path":"/root","gid":"wheel"}"#, #"{"uid":1}"#,
        ])
        func chownBadInput(_ body: String) async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let response = try await daemon.fs("POST", name, "chown", body: Data(body.utf8), headers: ["Content-Type": "application/json"])
                #expect(response.status == 400 && response.json?["error"] is String, "\(body): \(response)")
                let missing = try await daemon.fs("POST", name, "chown", json: ["path": "/nope", "uid": 1])
                #expect(missing.status == 404 && missing.json?["code"] as? String == "ENOENT", "\(missing)")
            }
        }

        @Test("fs/write: mkdir=false (OpenAPI) or mkdirParents=false (Go) with a missing parent is 404; mkdir=true makes it")
        func mkdir() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.writeFile(name, "/new/dir/f", Data("x".utf8), [("mkdir", "false")]).status == 404)
                #expect(try await daemon.writeFile(name, "/new/dir/f", Data("x".utf8), [("mkdirParents", "false")]).status == 404)
                #expect(try await daemon.writeFile(name, "/new/dir/f", Data("x".utf8), [("mkdir", "true")]).status == 201)
                #expect(try await daemon.readFile(name, "/new/dir/f").text == "x")
                let bad = try await daemon.writeFile(name, "/new/g", Data("x".utf8), [("mkdir", "maybe")])
                #expect(bad.status == 400, "\(bad)")
            }
        }

        @Test("fs/delete takes its target from a JSON body (OpenAPI) as well as from the query (Go)")
        func deleteBody() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.writeFile(name, "/srv/x/1", "1").status == 201)
                #expect(try await daemon.writeFile(name, "/srv/y", "y").status == 201)
                let notRecursive = try await daemon.fs("DELETE", name, "delete", json: ["path": "x", "workingDir": "/srv", "recursive": false, "asRoot": false])
                #expect(notRecursive.status == 409, "\(notRecursive)")
                let body = try await daemon.fs("DELETE", name, "delete", json: ["path": "x", "workingDir": "/srv", "recursive": true, "asRoot": false])
                #expect(body.status == 200 && body.json?["deleted"] as? [String] == ["/srv/x"] && body.json?["count"] as? Int == 2, "\(body)")
                let query = try await daemon.fs("DELETE", name, "delete", [("path", "/srv/y")])
                #expect(query.status == 200, "\(query)")
                let neither = try await daemon.fs("DELETE", name, "delete")
                #expect(neither.status == 400, "\(neither)")
            }
        }

        @Test("checkpoints carry health (\"\" when restorable) and source_id (the parent)")
        func checkpointHealth() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let v1 = try await daemon.checkpoint(name)
                let info = try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints/\(v1)")
                #expect(info.json?["health"] as? String == "" && info.json?["source_id"] as? String == "v0", "\(info)")
                let list = try await daemon.http("GET", "/v1/sprites/\(name)/checkpoints")
                let entries = (try? JSONSerialization.jsonObject(with: list.body) as? [[String: Any]]) ?? []
                let v0 = entries.first { $0["id"] as? String == "v0" }
                #expect(v0?["health"] as? String == "" && v0?["source_id"] == nil, "\(list)")
            }
        }
    }
}
