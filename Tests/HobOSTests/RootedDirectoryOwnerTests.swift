// RootedDirectory.changeOwner (fs/chown) on the Scratch tree: owners change inside the tree
// only, symlinks are followed inside it for the named path and changed themselves below it.
import Foundation
import Glibc
import HobOS
import Testing

@Suite("Rooted directory: chown", .enabled(if: getuid() == 0, "chown to other ids requires root"))
struct RootedDirectoryOwnerTests {
    func owner(_ hostPath: String) -> (uid: UInt32, gid: UInt32) {
        var st = stat()
        return lstat(hostPath, &st) == 0 ? (st.st_uid, st.st_gid) : (UInt32.max, UInt32.max)
    }

    @Test("a file gets the uid and gid asked for, and the answer reports them")
    func file() throws {
        let s = try Scratch()
        try s.file("/home/a.txt", "a")
        let (changed, count) = try s.tree.changeOwner(try RootedPath("/home/a.txt"), uid: 1000, gid: 1001, recursive: false)
        #expect(count == 1)
        #expect(changed == [OwnerChange(path: "/home/a.txt", uid: 1000, gid: 1001)])
        #expect(owner(s.root + "/home/a.txt") == (1000, 1001))
    }

    @Test("a nil id is left as it was")
    func keepsTheOtherID() throws {
        let s = try Scratch()
        try s.file("/a", "a")
        _ = try s.tree.changeOwner(try RootedPath("/a"), uid: 7, gid: 8, recursive: false)
        _ = try s.tree.changeOwner(try RootedPath("/a"), uid: nil, gid: 9, recursive: false)
        #expect(owner(s.root + "/a") == (7, 9))
    }

    @Test("recursive changes everything below; a symlink below is changed itself, its target is not")
    func recursive() throws {
        let s = try Scratch()
        try s.file("/srv/app/x", "x")
        try s.file("/srv/app/sub/y", "y")
        try s.link("/srv/app/passwd", to: "/etc/passwd")
        let (changed, count) = try s.tree.changeOwner(try RootedPath("/srv/app"), uid: 1000, gid: 1000, recursive: true)
        #expect(count == 5)  // app, passwd (the link), sub, sub/y, x
        #expect(Set(changed.map(\.path)) == ["/srv/app", "/srv/app/x", "/srv/app/sub", "/srv/app/sub/y", "/srv/app/passwd"])
        #expect(owner(s.root + "/srv/app/sub/y") == (1000, 1000))
        #expect(owner(s.root + "/srv/app/passwd") == (1000, 1000))
        #expect(owner(s.root + "/etc/passwd") == (0, 0))
    }

    @Test("a named symlink to an absolute path changes the tree's file, never the host's")
    func namedSymlinkStaysInside() throws {
        let s = try Scratch()
        try s.link("/escape", to: s.outside + "/secret")
        #expect(throws: FileError.self) { try s.tree.changeOwner(try RootedPath("/escape"), uid: 1000, gid: 1000, recursive: false) }
        #expect(owner(s.outside + "/secret") == (0, 0))

        try s.link("/pw", to: "/etc/passwd")
        _ = try s.tree.changeOwner(try RootedPath("/pw"), uid: 1234, gid: 1234, recursive: false)
        #expect(owner(s.root + "/etc/passwd") == (1234, 1234))
    }

    @Test("a relative symlink climbing out with .. stops at the tree's root")
    func dotDotStaysInside() throws {
        let s = try Scratch()
        try s.link("/up", to: "../../../outside/secret")
        #expect(throws: FileError.self) { try s.tree.changeOwner(try RootedPath("/up"), uid: 1000, gid: nil, recursive: false) }
        #expect(owner(s.outside + "/secret") == (0, 0))
    }

    @Test("a missing path is ENOENT")
    func missing() throws {
        let s = try Scratch()
        #expect { try s.tree.changeOwner(try RootedPath("/nope"), uid: 1, gid: 1, recursive: false) } throws: { ($0 as? FileError)?.errno == ENOENT }
    }
}
