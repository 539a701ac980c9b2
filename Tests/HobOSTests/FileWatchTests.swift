// FileWatch on a temporary tree standing in for a sprite's disk, beside an `outside` directory
// standing in for the host: changes under a watched path are reported with their paths in the
// tree, and no symlink lets a watch reach outside.
import Foundation
import Glibc
import HobOS
import Testing

@Suite("File watch (inotify in a rooted tree)")
struct FileWatchTests {
    /// Notices until `stop` holds for one of them or 5 s pass.
    static func collect(_ watch: FileWatch, until stop: (FileWatchNotice) -> Bool = { _ in false }, seconds: Double = 5) throws -> [FileWatchNotice] {
        var notices: [FileWatchNotice] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let batch = try watch.next(timeoutMs: 100)
            notices += batch
            if batch.contains(where: stop) { break }
        }
        return notices
    }

    static func changes(_ notices: [FileWatchNotice]) -> [FileChange] {
        notices.compactMap { if case .change(let c) = $0 { c } else { nil } }
    }

    @Test("creating, writing and deleting a file are reported with its path in the tree and its size")
    func basicEvents() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.root + "/app", withIntermediateDirectories: true)
        let watch = try FileWatch(files: scratch.tree, maxWatches: 16)
        #expect(try watch.subscribe(RootedPath("/app"), recursive: false) == 0)
        try scratch.file("/app/a.txt", "hello")
        unlink(scratch.root + "/app/a.txt")
        let changes = Self.changes(try Self.collect(watch) { if case .change(let c) = $0 { c.kind == .delete } else { false } })
        #expect(changes.first?.path == "/app/a.txt" && changes.first?.kind == .create && changes.first?.isDirectory == false, "\(changes)")
        #expect(changes.contains { $0.path == "/app/a.txt" && $0.kind == .modify })
        #expect(changes.last?.path == "/app/a.txt" && changes.last?.kind == .delete && changes.last?.size == 0, "\(changes)")
    }

    @Test("a recursive watch covers existing subdirectories and ones made later")
    func recursive() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.root + "/app/src", withIntermediateDirectories: true)
        let watch = try FileWatch(files: scratch.tree, maxWatches: 16)
        _ = try watch.subscribe(RootedPath("/app"), recursive: true)
        try scratch.file("/app/src/deep.txt", "x")
        mkdir(scratch.root + "/app/new", 0o755)
        _ = try Self.collect(watch, seconds: 0.5)
        try scratch.file("/app/new/later.txt", "y")
        let changes = Self.changes(try Self.collect(watch) { if case .change(let c) = $0 { c.path == "/app/new/later.txt" } else { false } })
        #expect(changes.contains { $0.path == "/app/new/later.txt" && $0.kind == .create }, "\(changes)")
    }

    @Test("the first subscription's earlier events include the existing subdirectory")
    func existingSubdirectory() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.root + "/app/src", withIntermediateDirectories: true)
        let watch = try FileWatch(files: scratch.tree, maxWatches: 16)
        _ = try watch.subscribe(RootedPath("/app"), recursive: true)
        try scratch.file("/app/src/deep.txt", "x")
        let changes = Self.changes(try Self.collect(watch) { if case .change(let c) = $0 { c.path == "/app/src/deep.txt" } else { false } })
        #expect(changes.contains { $0.path == "/app/src/deep.txt" && $0.kind == .create }, "\(changes)")
    }

    @Test("a symlink to a host path is resolved inside the tree, and a recursive walk never follows one")
    func symlinksStayInside() throws {
        let scratch = try Scratch()
        try scratch.link("/escape", to: scratch.outside)
        try FileManager.default.createDirectory(atPath: scratch.root + "/app", withIntermediateDirectories: true)
        try scratch.link("/app/out", to: scratch.outside)
        let watch = try FileWatch(files: scratch.tree, maxWatches: 16)
        // The absolute target is taken from the tree's root, where it does not exist.
        #expect(throws: FileError.self) { try watch.subscribe(RootedPath("/escape"), recursive: false) }
        _ = try watch.subscribe(RootedPath("/app"), recursive: true)
        #expect(watch.watchCount == 1)
        try "changed".write(toFile: scratch.outside + "/secret", atomically: false, encoding: .utf8)
        let changes = Self.changes(try Self.collect(watch, seconds: 0.5))
        #expect(changes.isEmpty, "\(changes)")
    }

    @Test("directories beyond the limit are counted as unwatched, not silently dropped")
    func limit() throws {
        let scratch = try Scratch()
        for i in 0..<5 { try FileManager.default.createDirectory(atPath: scratch.root + "/app/d\(i)", withIntermediateDirectories: true) }
        let watch = try FileWatch(files: scratch.tree, maxWatches: 3)
        #expect(try watch.subscribe(RootedPath("/app"), recursive: true) == 3)
        #expect(watch.watchCount == 3)
    }

    @Test("unsubscribing removes the watches only that subscription needed")
    func unsubscribe() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.root + "/a/b", withIntermediateDirectories: true)
        let watch = try FileWatch(files: scratch.tree, maxWatches: 16)
        _ = try watch.subscribe(RootedPath("/a"), recursive: true)
        _ = try watch.subscribe(RootedPath("/a/b"), recursive: false)
        #expect(watch.watchCount == 2)
        watch.unsubscribe(try RootedPath("/a"))
        #expect(watch.watchCount == 1)
        try scratch.file("/a/b/f", "z")
        let changes = Self.changes(try Self.collect(watch) { if case .change = $0 { true } else { false } })
        #expect(changes.first?.path == "/a/b/f", "\(changes)")
    }
}
