// How `hob fs` reads its arguments. No daemon is contacted.

import ArgumentParser
import HobCLI
import Testing

@Suite("hob fs parsing")
struct FsCommandTests {
    @Test("put takes the sprite, then the local file, then the path in the sprite")
    func put() throws {
        let put = try Fs.Put.parse(["demo", "./run.sh", "/srv/run.sh", "--mode", "755", "--no-parents"])
        #expect(put.name == "demo" && put.local == "./run.sh" && put.path == "/srv/run.sh")
        #expect(put.mode == "755" && put.noParents)
        #expect(try Fs.Put.parse(["demo", "-", "/srv/in"]).local == "-")
        #expect(throws: (any Error).self) { try Fs.Put.parse(["demo", "a", "/b", "--mode", "rwx"]) }
    }

    @Test("chmod takes an octal mode before the path, and -R")
    func chmod() throws {
        let chmod = try Fs.ChangeMode.parse(["-R", "demo", "750", "/srv"])
        #expect(chmod.recursive && chmod.mode == "750" && chmod.path == "/srv")
        #expect(throws: (any Error).self) { try Fs.ChangeMode.parse(["demo", "999", "/srv"]) }
    }

    @Test("ls defaults to /, rm and cp take -r")
    func others() throws {
        #expect(try Fs.List.parse(["demo"]).path == "/")
        #expect(try Fs.List.parse(["demo", "/srv", "-r"]).recursive)
        #expect(try Fs.Remove.parse(["-r", "demo", "/srv"]).recursive)
        let copy = try Fs.Copy.parse(["-r", "--preserve", "demo", "/a", "/b"])
        #expect(copy.recursive && copy.preserve && copy.source == "/a" && copy.destination == "/b")
        let move = try Fs.Move.parse(["demo", "/a", "/b"])
        #expect(move.source == "/a" && move.destination == "/b")
    }
}
