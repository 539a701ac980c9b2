// RootedDirectory on a temporary directory standing in for a sprite's disk, with a sibling
// directory standing in for the host: nothing a path or a symlink in the tree says may reach it.
import Foundation
import Glibc
import HobOS
import Testing

/// A temporary `root` (the tree) beside an `outside` directory (the host), removed at the end.
final class Scratch {
    let base: String
    var root: String { base + "/root" }
    var outside: String { base + "/outside" }
    let tree: RootedDirectory

    init() throws {
        var template = Array("/tmp/hob-rooted-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FileError("mkdtemp", "/tmp", errno: errno) }
        base = String(cString: made)
        try FileManager.default.createDirectory(atPath: base + "/root/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        try "sprite's passwd\n".write(toFile: base + "/root/etc/passwd", atomically: false, encoding: .utf8)
        try "HOST SECRET\n".write(toFile: base + "/outside/secret", atomically: false, encoding: .utf8)
        chmod(base + "/outside/secret", 0o600)
        tree = try RootedDirectory(opening: base + "/root")
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func file(_ path: String, _ text: String) throws {
        let full = root + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func link(_ path: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + path, withDestinationPath: target)
    }

    func contents(_ hostPath: String) -> String? { try? String(contentsOfFile: hostPath, encoding: .utf8) }

    func mode(_ hostPath: String) -> UInt32 {
        var st = stat()
        return lstat(hostPath, &st) == 0 ? UInt32(st.st_mode) & 0o7777 : 0
    }

    func exists(_ hostPath: String) -> Bool {
        var st = stat()
        return lstat(hostPath, &st) == 0
    }

    /// Reads a file through the tree.
    func read(_ path: String, workingDirectory: String = "/") throws -> String {
        let (file, size) = try tree.openForReading(RootedPath(path, workingDirectory: workingDirectory))
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[done...]), at: Int64(done)) }
            if n == 0 { break }
            done += n
        }
        return String(decoding: bytes[..<done], as: UTF8.self)
    }

    /// Writes a file through the tree.
    @discardableResult
    func write(_ path: String, _ text: String, mode: UInt32? = nil, makeParents: Bool = true) throws -> FileUpload {
        let upload = try tree.beginUpload(RootedPath(path), mode: mode, makeParents: makeParents)
        try Array(text.utf8).withUnsafeBytes { try upload.write($0) }
        try upload.commit()
        return upload
    }

    func list(_ path: String, recursive: Bool = false) throws -> [DirectoryEntry] {
        let listing = try tree.list(RootedPath(path), recursive: recursive)
        var all: [DirectoryEntry] = []
        while true {
            let batch = listing.next(2)
            if batch.isEmpty { return all }
            all += batch
        }
    }
}

/// The errno a throwing call failed with (0 when it did not fail).
func errnoOf(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch let error as FileError {
        return error.errno
    } catch {
        return -1
    }
}

@Suite("Rooted paths")
struct RootedPathTests {
    @Test(
        "paths are cleaned lexically against the working directory and never climb above /",
        arguments: [
            ("../../etc/passwd", "/app", "/etc/passwd"), ("x", "/a/../b", "/b/x"), ("/", "/x", "/"), ("a//b/./c/..", "/", "/a/b"),
            ("x", "sub", "/sub/x"), ("..", "/", "/"), ("", "/home", "/home"), ("/abs/./f", "/ignored", "/abs/f"),
        ])
    func cleaning(path: String, workingDirectory: String, expected: String) throws {
        #expect(try RootedPath(path, workingDirectory: workingDirectory).description == expected)
    }

    @Test("NUL bytes and overlong paths are refused")
    func refused() {
        #expect(errnoOf { _ = try RootedPath("a\0b") } == EINVAL)
        #expect(errnoOf { _ = try RootedPath("x", workingDirectory: "/\0") } == EINVAL)
        #expect(errnoOf { _ = try RootedPath("/" + String(repeating: "a/", count: 3000)) } == ENAMETOOLONG)
    }

    @Test("errors carry the errno's name and read like Go's")
    func errors() {
        let error = FileError("open", "/app/missing", errno: ENOENT)
        #expect(error.code == "ENOENT")
        #expect(error.description == "open /app/missing: no such file or directory")
        #expect(FileError("delete", "/d", errno: ENOTEMPTY).code == "ENOTEMPTY")
    }
}

@Suite("Rooted directory: staying inside")
struct RootedEscapeTests {
    @Test("`..` in the path or the working directory ends at the tree's root")
    func dotDot() throws {
        let s = try Scratch()
        #expect(try s.read("../../../../etc/passwd") == "sprite's passwd\n")
        #expect(try s.read("passwd", workingDirectory: "/../../etc") == "sprite's passwd\n")
    }

    @Test("an absolute symlink resolves inside the tree, never on the host")
    func absoluteSymlink() throws {
        let s = try Scratch()
        try s.link("/leak", to: "/etc/passwd")
        #expect(try s.read("/leak") == "sprite's passwd\n")
        try s.link("/host", to: s.outside + "/secret")
        #expect(errnoOf { _ = try s.read("/host") } == ENOENT)
    }

    @Test("a relative symlink climbing past the root stops at it")
    func climbingSymlink() throws {
        let s = try Scratch()
        try s.link("/up", to: "../../../../../..")
        #expect(try s.read("/up/etc/passwd") == "sprite's passwd\n")
        #expect(try s.list("/up").map(\.name).contains("etc"))
        #expect(errnoOf { _ = try s.read("/up/outside/secret") } == ENOENT)
    }

    @Test("a symlink loop is ELOOP, and a write through it creates nothing")
    func loop() throws {
        let s = try Scratch()
        try s.link("/a", to: "/b")
        try s.link("/b", to: "a")
        #expect(errnoOf { _ = try s.read("/a") } == ELOOP)
        #expect(errnoOf { try s.write("/a", "x") } == ELOOP)
        #expect(try s.list("/a").map(\.kind) == [.symlink])
    }

    @Test("writing through a dangling absolute symlink creates the file inside the tree")
    func danglingWrite() throws {
        let s = try Scratch()
        let name = "hob-test-\(UInt32.random(in: 0...UInt32.max))"
        try s.link("/drop", to: "/tmp/\(name)")
        try FileManager.default.createDirectory(atPath: s.root + "/tmp", withIntermediateDirectories: true)
        try s.write("/drop", "inside")
        #expect(s.contents(s.root + "/tmp/\(name)") == "inside")
        #expect(!s.exists("/tmp/\(name)"))
    }

    @Test("chmod through a link to a host path fails; a recursive chmod skips links")
    func chmodStaysInside() throws {
        let s = try Scratch()
        try s.link("/host", to: s.outside + "/secret")
        #expect(errnoOf { _ = try s.tree.changeMode(RootedPath("/host"), to: 0o777, recursive: false) } == ENOENT)
        try s.file("/dir/own", "x")
        try s.link("/dir/escape", to: "../../outside/secret")
        #expect(try s.tree.changeMode(RootedPath("/dir"), to: 0o777, recursive: true) == 2)
        #expect(s.mode(s.outside + "/secret") == 0o600)
        #expect(s.mode(s.root + "/dir/own") == 0o777)
    }

    @Test("a recursive delete removes links, not what they point to")
    func deleteStaysInside() throws {
        let s = try Scratch()
        try s.file("/dir/sub/f", "x")
        try s.link("/dir/sub/escape", to: s.outside)
        #expect(try s.tree.delete(RootedPath("/dir"), recursive: true) == 4)
        #expect(!s.exists(s.root + "/dir"))
        #expect(s.contents(s.outside + "/secret") == "HOST SECRET\n")
    }
}

@Suite("Rooted directory: files")
struct RootedFileTests {
    @Test("a final symlink: read and write follow it, delete and rename act on the link, list shows it")
    func finalSymlink() throws {
        let s = try Scratch()
        try s.file("/data/target", "old")
        try s.link("/data/link", to: "target")
        try s.write("/data/link", "new")
        #expect(s.contents(s.root + "/data/target") == "new")
        #expect(try s.read("/data/link") == "new")
        let entry = try #require(try s.list("/data").first { $0.name == "link" })
        #expect(entry.kind == .symlink && entry.size == 6 && entry.path == "/data/link")
        try s.tree.rename(RootedPath("/data/link"), to: RootedPath("/data/moved"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: s.root + "/data/moved")) == "target")
        #expect(try s.tree.delete(RootedPath("/data/moved"), recursive: false) == 1)
        #expect(s.contents(s.root + "/data/target") == "new")
    }

    @Test("a rewrite keeps the file's mode unless one is given, and leaves no temporary file")
    func rewriteKeepsMode() throws {
        let s = try Scratch()
        try s.file("/f", "one")
        chmod(s.root + "/f", 0o600)
        if geteuid() == 0 { chown(s.root + "/f", 1234, 2345) }
        let upload = try s.write("/f", "two")
        #expect(!upload.creates)
        #expect(s.contents(s.root + "/f") == "two" && s.mode(s.root + "/f") == 0o600)
        if geteuid() == 0 {
            var st = stat()
            stat(s.root + "/f", &st)
            #expect(st.st_uid == 1234 && st.st_gid == 2345)
        }
        try s.write("/f", "three", mode: 0o750)
        #expect(s.mode(s.root + "/f") == 0o750)
        #expect(try s.write("/new", "").creates)
        #expect(s.mode(s.root + "/new") == 0o644)
        let names = try FileManager.default.contentsOfDirectory(atPath: s.root)
        #expect(!names.contains { $0.hasPrefix(".hob-") }, "\(names)")
    }

    @Test("an upload dropped before commit leaves nothing, and the old file stays whole")
    func droppedUpload() throws {
        let s = try Scratch()
        try s.file("/f", "original")
        do {
            let upload = try s.tree.beginUpload(RootedPath("/f"), mode: nil, makeParents: false)
            try Array("partial".utf8).withUnsafeBytes { try upload.write($0) }
        }
        #expect(s.contents(s.root + "/f") == "original")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.root).sorted() == ["etc", "f"])
    }

    @Test("parents are made only when asked; a directory or a file in the way is an error")
    func parents() throws {
        let s = try Scratch()
        #expect(errnoOf { try s.write("/a/b/c", "x", makeParents: false) } == ENOENT)
        try s.write("/a/b/c", "x")
        #expect(s.contents(s.root + "/a/b/c") == "x" && s.mode(s.root + "/a/b") == 0o755)
        #expect(errnoOf { try s.write("/a/b", "x") } == EISDIR)
        #expect(errnoOf { try s.write("/a/b/c/d", "x") } == ENOTDIR)
        #expect(errnoOf { try s.write("/", "x") } == EISDIR)
    }

    @Test("only regular files are read: a FIFO is refused without blocking, a directory is EISDIR")
    func readsRegularFilesOnly() throws {
        let s = try Scratch()
        #expect(mkfifo(s.root + "/pipe", 0o644) == 0)
        #expect(errnoOf { _ = try s.read("/pipe") } == EINVAL)
        #expect(errnoOf { _ = try s.read("/etc") } == EISDIR)
        #expect(errnoOf { _ = try s.read("/missing") } == ENOENT)
    }

    @Test("a listing names entries relative to the directory, depth first, in name order")
    func listing() throws {
        let s = try Scratch()
        try s.file("/d/b.txt", "bb")
        try s.file("/d/a/x", "x")
        #expect(try s.list("/d").map(\.name) == ["a", "b.txt"])
        let all = try s.list("/d", recursive: true)
        #expect(all.map(\.name) == ["a", "a/x", "b.txt"])
        #expect(all.map(\.path) == ["/d/a", "/d/a/x", "/d/b.txt"])
        #expect(all[0].kind == .directory && all[0].size == 0 && all[2].size == 2)
        let single = try s.list("/d/b.txt")
        #expect(single.count == 1 && single[0].name == "b.txt" && single[0].kind == .file && single[0].permissions == 0o644)
        #expect(errnoOf { _ = try s.list("/nope") } == ENOENT)
    }

    @Test("delete: empty directories and files alone, trees with recursive, never the root")
    func delete() throws {
        let s = try Scratch()
        try s.file("/d/f", "x")
        #expect(errnoOf { _ = try s.tree.delete(RootedPath("/d"), recursive: false) } == ENOTEMPTY)
        #expect(errnoOf { _ = try s.tree.delete(RootedPath("/"), recursive: true) } == EBUSY)
        #expect(errnoOf { _ = try s.tree.delete(RootedPath("/missing"), recursive: false) } == ENOENT)
        #expect(try s.tree.delete(RootedPath("/d/f"), recursive: false) == 1)
        #expect(try s.tree.delete(RootedPath("/d"), recursive: false) == 1)
    }

    @Test("rename replaces a file, refuses the root and names the missing side")
    func rename() throws {
        let s = try Scratch()
        try s.file("/a", "a")
        try s.file("/b", "b")
        try s.tree.rename(RootedPath("/a"), to: RootedPath("/b"))
        #expect(s.contents(s.root + "/b") == "a" && !s.exists(s.root + "/a"))
        #expect(errnoOf { try s.tree.rename(RootedPath("/"), to: RootedPath("/x")) } == EBUSY)
        do {
            try s.tree.rename(RootedPath("/a"), to: RootedPath("/c"))
            Issue.record("renaming a missing file succeeded")
        } catch let error as FileError {
            #expect(error.errno == ENOENT && error.path == "/a")
        }
        #expect(errnoOf { try s.tree.rename(RootedPath("/b"), to: RootedPath("/no/such/dir")) } == ENOENT)
    }

    @Test("copy: files keep their mode, trees copy links as links, a tree never goes into itself")
    func copy() throws {
        let s = try Scratch()
        try s.file("/src/bin/tool", "#!/bin/sh\n")
        chmod(s.root + "/src/bin/tool", 0o755)
        try s.link("/src/bin/alias", to: "tool")
        let file = try s.tree.copy(RootedPath("/src/bin/tool"), to: RootedPath("/tool2"), recursive: false, keepTimes: false)
        #expect(file == .init(entries: 1, bytes: 10))
        #expect(s.mode(s.root + "/tool2") == 0o755 && s.contents(s.root + "/tool2") == "#!/bin/sh\n")
        #expect(errnoOf { _ = try s.tree.copy(RootedPath("/src"), to: RootedPath("/dst"), recursive: false, keepTimes: false) } == EISDIR)
        let tree = try s.tree.copy(RootedPath("/src"), to: RootedPath("/dst"), recursive: true, keepTimes: true)
        #expect(tree == .init(entries: 4, bytes: 10))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: s.root + "/dst/bin/alias")) == "tool")
        #expect(s.mode(s.root + "/dst/bin/tool") == 0o755)
        #expect(errnoOf { _ = try s.tree.copy(RootedPath("/src"), to: RootedPath("/dst"), recursive: true, keepTimes: false) } == EEXIST)
        #expect(errnoOf { _ = try s.tree.copy(RootedPath("/src"), to: RootedPath("/src/bin/inner"), recursive: true, keepTimes: false) } == EINVAL)
        #expect(errnoOf { _ = try s.tree.copy(RootedPath("/"), to: RootedPath("/all"), recursive: true, keepTimes: false) } == EINVAL)
        let names = try FileManager.default.contentsOfDirectory(atPath: s.root) + FileManager.default.contentsOfDirectory(atPath: s.root + "/src/bin")
        #expect(!names.contains { $0.hasPrefix(".hob-") }, "\(names)")
    }

    @Test("chmod follows a link inside the tree; recursive counts what changed")
    func chmodCounts() throws {
        let s = try Scratch()
        try s.file("/d/f", "x")
        try s.link("/l", to: "/d/f")
        #expect(try s.tree.changeMode(RootedPath("/l"), to: 0o700, recursive: false) == 1)
        #expect(s.mode(s.root + "/d/f") == 0o700)
        #expect(try s.tree.changeMode(RootedPath("/d"), to: 0o750, recursive: true) == 2)
        #expect(s.mode(s.root + "/d") == 0o750)
    }
}
