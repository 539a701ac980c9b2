// FileWatch's limit counts watched directories: a directory already watched costs nothing more.
import Foundation
import HobOS
import Testing

@Suite("File watch: the limit and directories already watched")
struct FileWatchLimitTests {
    @Test("at the limit, a directory already watched can be subscribed again; a new one is refused")
    func resubscribeAtLimit() throws {
        let scratch = try Scratch()
        for name in ["a", "b", "c"] { try FileManager.default.createDirectory(atPath: scratch.root + "/" + name, withIntermediateDirectories: true) }
        let watch = try FileWatch(files: scratch.tree, maxWatches: 2)
        #expect(try watch.subscribe(RootedPath("/a"), recursive: false) == 0)
        #expect(try watch.subscribe(RootedPath("/b"), recursive: false) == 0)
        #expect(try watch.subscribe(RootedPath("/a"), recursive: false) == 0)
        #expect(watch.watchCount == 2)
        #expect(throws: (any Error).self) { try watch.subscribe(RootedPath("/c"), recursive: false) }
        #expect(watch.watchCount == 2)
    }
}
