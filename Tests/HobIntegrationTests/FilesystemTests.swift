// The file API (SPRITES-API.md §10): /v1/sprites/{name}/fs/… works on the sprite's disk from the
// host, whatever the sprite's state, and every path stays inside the sprite, symlinks included.
import Foundation
import Synchronization
import Testing

extension HobIntegration {
    @Suite("File API", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct FilesystemTests {
        @Test("write, read, list, rename, copy, chmod and delete round-trip")
        func roundTrip() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let created = try await daemon.writeFile(name, "/app/notes.txt", Data("hello".utf8), [("mode", "0600")])
                #expect(created.status == 201, "\(created)")
                #expect(created.json?["path"] as? String == "/app/notes.txt" && created.json?["size"] as? Int == 5, "\(created)")
                let replaced = try await daemon.fs("PUT", name, "write", [("path", "notes.txt"), ("workingDir", "/app")], body: Data("hello world".utf8))
                #expect(replaced.status == 200 && replaced.json?["mode"] as? String == "0600", "\(replaced)")
                #expect(try await daemon.readFile(name, "/app/notes.txt").text == "hello world")

                let listed = try await daemon.listFiles(name, "/app")
                let entry = try #require(listed["notes.txt"])
                #expect(entry["type"] as? String == "file" && entry["size"] as? Int == 11 && entry["mode"] as? String == "0600")
                #expect(entry["isDir"] as? Bool == false && entry["path"] as? String == "/app/notes.txt")
                #expect((entry["modTime"] as? String)?.hasSuffix("Z") == true)
                // A file's listing is its own entry: how the SDKs stat.
                #expect(try await daemon.listFiles(name, "/app/notes.txt").keys.sorted() == ["notes.txt"])

                let renamed = try await daemon.fs("POST", name, "rename", json: ["source": "notes.txt", "dest": "/app/renamed.txt", "workingDir": "/app"])
                #expect(renamed.status == 200 && renamed.json?["dest"] as? String == "/app/renamed.txt", "\(renamed)")
                let copied = try await daemon.fs("POST", name, "copy", json: ["source": "/app", "dest": "/app-copy", "recursive": true])
                #expect(copied.status == 200 && copied.json?["count"] as? Int == 2 && copied.json?["totalBytes"] as? Int == 11, "\(copied)")
                let changed = try await daemon.fs("POST", name, "chmod", json: ["path": "/app-copy", "mode": "0750", "recursive": true])
                #expect(changed.status == 200 && changed.json?["count"] as? Int == 2, "\(changed)")
                #expect(try await daemon.listFiles(name, "/app-copy")["renamed.txt"]?["mode"] as? String == "0750")

                let deleted = try await daemon.fs("DELETE", name, "delete", [("path", "/app-copy"), ("recursive", "true")])
                #expect(deleted.status == 200 && deleted.json?["count"] as? Int == 2, "\(deleted)")
                #expect(try await daemon.readFile(name, "/app-copy/renamed.txt").status == 404)
            }
        }

        @Test("a file written through the API is seen by exec, and exec's files by the API")
        func sharedWithExec() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.writeFile(name, "/root/from-api", "api\n").status == 201)
                let seen = try await daemon.sh(name, "cat /root/from-api; stat -c %U:%a /root/from-api; echo exec > /root/from-exec")
                #expect(seen.stdout == "api\nroot:644\n", "\(seen)")
                #expect(try await daemon.readFile(name, "/root/from-exec").text == "exec\n")
            }
        }

        @Test("a symlink made in the sprite to /etc/shadow or to a host path never reaches the host")
        func symlinksStayInside() async throws {
            let daemon = try DaemonFixture.shared()
            let marker = "HOST-ONLY-\(TestEnvironment.randomName(12))"
            let hostFile = daemon.root.path + "/host-secret"
            try marker.write(toFile: hostFile, atomically: false, encoding: .utf8)
            chmod(hostFile, 0o600)
            try await daemon.withSprite { name in
                let made = try await daemon.sh(name, """
                    ln -s /etc/shadow /root/leak && ln -s \(shellQuote(hostFile)) /root/hostlink \
                    && ln -s ../../../../../../../..\(shellQuote(hostFile)) /root/climb && cat /etc/shadow
                    """)
                #expect(made.succeeded, "\(made)")
                let shadow = try await daemon.readFile(name, "/root/leak")
                #expect(shadow.status == 200 && shadow.text == made.stdout, "\(shadow)")
                for link in ["/root/hostlink", "/root/climb"] {
                    let read = try await daemon.readFile(name, link)
                    #expect(read.status == 404 && !read.text.contains(marker), "\(link): \(read)")
                    let write = try await daemon.writeFile(name, link, "overwritten")
                    #expect(write.status == 404, "\(link): \(write)")
                    let chmod = try await daemon.fs("POST", name, "chmod", json: ["path": link, "mode": "0777"])
                    #expect(chmod.status == 404, "\(link): \(chmod)")
                }
                let listed = try await daemon.listFiles(name, "/root")
                #expect(listed["leak"]?["type"] as? String == "symlink" && listed["leak"]?["isDir"] as? Bool == false)
                let deleted = try await daemon.fs("DELETE", name, "delete", [("path", "/root/hostlink")])
                #expect(deleted.status == 200, "\(deleted)")
            }
            #expect((try? String(contentsOfFile: hostFile, encoding: .utf8)) == marker)
            var st = stat()
            #expect(lstat(hostFile, &st) == 0 && st.st_mode & 0o7777 == 0o600)
        }

        @Test("a cold sprite is not booted, and a warm one stays asleep")
        func sleepingSprites() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.writeFile(name, "/root/cold.txt", "cold").status == 201)
                #expect(try await daemon.readFile(name, "/root/cold.txt").text == "cold")
                _ = try await daemon.listFiles(name, "/root", recursive: true)
                #expect(try await daemon.status(name) == "cold")
                #expect(try await daemon.spriteInfo(name)["last_running_at"] == nil)

                #expect(try await daemon.sh(name, "cat /root/cold.txt").stdout == "cold")
                #expect(try await daemon.sleep(name).status == 200)
                #expect(try await daemon.writeFile(name, "/root/warm.txt", "warm").status == 201)
                #expect(try await daemon.readFile(name, "/root/warm.txt").text == "warm")
                #expect(try await daemon.status(name) == "warm")
                #expect(try await daemon.sh(name, "cat /root/warm.txt").stdout == "warm")
            }
        }

        @Test("a 64 MB file streams both ways intact, and a Range reads a slice")
        func largeFilesAndRanges() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
                let data = random.readData(ofLength: 64 << 20)
                #expect(try await daemon.writeFile(name, "/blob", data).status == 201)
                let whole = try await daemon.readFile(name, "/blob")
                #expect(whole.status == 200 && whole.body == data && whole.header("content-length") == "\(data.count)")

                let head = try await daemon.readFile(name, "/blob", headers: ["Range": "bytes=0-9"])
                #expect(head.status == 206 && head.body == data.prefix(10) && head.header("content-range") == "bytes 0-9/\(data.count)")
                let tail = try await daemon.readFile(name, "/blob", headers: ["Range": "bytes=-10"])
                #expect(tail.status == 206 && tail.body == data.suffix(10))
                let outside = try await daemon.readFile(name, "/blob", headers: ["Range": "bytes=\(data.count)-"])
                #expect(outside.status == 416 && outside.header("content-range") == "bytes */\(data.count)", "\(outside)")
                #expect(try await daemon.sh(name, "stat -c %s /blob").stdout == "\(data.count)\n")
            }
        }

        @Test("bad input is a 4xx with the file error body, never a 500")
        func badInput() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                #expect(try await daemon.writeFile(name, "/d/f", "x").status == 201)
                let cases: [(String, HTTPResult, Int, String?)] = [
                    ("no path", try await daemon.fs("GET", name, "read"), 400, "EINVAL"),
                    ("bad mode", try await daemon.writeFile(name, "/x", Data(), [("mode", "rwx")]), 400, "EINVAL"),
                    ("bad flag", try await daemon.fs("GET", name, "list", [("path", "/"), ("recursive", "maybe")]), 400, "EINVAL"),
                    ("bad JSON", try await daemon.fs("POST", name, "rename", body: Data("{".utf8)), 400, "EINVAL"),
                    ("mode too big", try await daemon.fs("POST", name, "chmod", json: ["path": "/d", "mode": "17777"]), 400, "EINVAL"),
                    ("missing file", try await daemon.readFile(name, "/nope"), 404, "ENOENT"),
                    ("unknown sprite", try await daemon.readFile("no-such-sprite", "/etc/hosts"), 404, "not_found"),
                    ("read a directory", try await daemon.readFile(name, "/d"), 400, "EISDIR"),
                    ("write over a directory", try await daemon.writeFile(name, "/d", "x"), 400, "EISDIR"),
                    ("through a file", try await daemon.writeFile(name, "/d/f/g", "x"), 400, "ENOTDIR"),
                    ("no parents", try await daemon.writeFile(name, "/new/f", Data(), [("mkdirParents", "false")]), 404, "ENOENT"),
                    ("non-empty", try await daemon.fs("DELETE", name, "delete", [("path", "/d")]), 409, "ENOTEMPTY"),
                    ("the root", try await daemon.fs("DELETE", name, "delete", [("path", "/"), ("recursive", "true")]), 409, "EBUSY"),
                    ("copy a directory", try await daemon.fs("POST", name, "copy", json: ["source": "/d", "dest": "/e"]), 400, "EISDIR"),
                    ("into itself", try await daemon.fs("POST", name, "copy", json: ["source": "/d", "dest": "/d/e", "recursive": true]), 400, "EINVAL"),
                    ("onto a tree", try await daemon.fs("POST", name, "copy", json: ["source": "/d", "dest": "/etc", "recursive": true]), 409, "EEXIST"),
                ]
                for (what, response, status, code) in cases {
                    #expect(response.status == status && response.fsCode == code, "\(what): \(response)")
                    let message = response.json?["error"] as? String ?? ""
                    #expect(!message.isEmpty, "\(what): \(response)")
                }
                #expect(try await daemon.readFile(name, "/nope").json?["path"] as? String == "/nope")
            }
        }

        @Test("hob fs put, cat, ls, cp, chmod, mv and rm")
        func cli() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let local = daemon.root.path + "/cli-upload"
                let data = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
                try data.write(to: URL(fileURLWithPath: local))
                let put = try await daemon.cli("fs", "put", name, local, "/srv/blob", "--mode", "600", "--json")
                #expect(put.succeeded && put.stdout.contains("\"size\" : 300000"), "\(put)")
                let piped = try await daemon.cli("fs", "put", name, "-", "/srv/piped", stdin: Data("from stdin".utf8))
                #expect(piped.succeeded, "\(piped)")
                let cat = try await daemon.cli("fs", "cat", name, "/srv/blob")
                #expect(cat.succeeded && cat.stdoutData == data, "\(cat.status) \(cat.stderr)")
                #expect(try await daemon.cli("fs", "cp", "-r", name, "/srv", "/srv2").succeeded)
                #expect(try await daemon.cli("fs", "chmod", "-R", name, "750", "/srv2").succeeded)
                #expect(try await daemon.cli("fs", "mv", name, "/srv2/piped", "/srv2/moved").succeeded)
                let ls = try await daemon.cli("fs", "ls", name, "/srv2")
                #expect(ls.stdout.contains("-0750") && ls.stdout.contains("moved") && ls.stdout.contains("blob"), "\(ls)")
                let refused = try await daemon.cli("fs", "rm", name, "/srv2")
                #expect(refused.status == 1 && refused.stderr.contains("directory not empty"), "\(refused)")
                #expect(try await daemon.cli("fs", "rm", "-r", name, "/srv2").succeeded)
                let missing = try await daemon.cli("fs", "cat", name, "/srv2/blob")
                #expect(missing.status == 1 && missing.stderr.contains("no such file or directory"), "\(missing)")
                #expect(try await daemon.status(name) == "cold")
            }
        }

        @Test("a restore waits for an upload in flight and refuses new file operations meanwhile")
        func restoreWaitsForUploads() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                let checkpoint = try await daemon.checkpoint(name)
                let size = 2 << 20
                let upload = try Exchange(port: daemon.port)
                let head = """
                    PUT /v1/sprites/\(name)/fs/write?path=%2Froot%2Fslow HTTP/1.1\r
                    Host: 127.0.0.1:\(daemon.port)\r
                    Authorization: Bearer \(daemon.token)\r
                    Content-Length: \(size)\r
                    \r

                    """
                try await offPool { try upload.connection.send(head + String(repeating: "a", count: size / 2)) }
                // The upload has its file open once the first piece is written.
                try await Task.sleep(for: .seconds(1))
                let restored = Flag()
                let restore = Task {
                    try await daemon.restore(name, checkpoint)
                    restored.set()
                }
                let refused = await eventually { (try? await daemon.fs("GET", name, "list", [("path", "/")]))?.status == 503 }
                #expect(refused, "file operations were not refused during the restore")
                #expect(!restored.isSet, "the restore did not wait for the upload")
                let answer = try await offPool {
                    try upload.connection.send(String(repeating: "b", count: size / 2))
                    return try upload.connection.readHead(deadline: .now + .seconds(60))
                }
                #expect(answer.flatMap(RawHTTP.status) == 201, "\(answer ?? "no answer")")
                try await restore.value
                // The upload finished on the disk that the restore then replaced.
                #expect(try await daemon.readFile(name, "/root/slow").status == 404)
            }
        }
    }
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// A raw connection handed from one step of a test to the next (never used by two at once).
private final class Exchange: @unchecked Sendable {
    let connection: RawConnection
    init(port: Int) throws { connection = try RawConnection(port: port) }
}
