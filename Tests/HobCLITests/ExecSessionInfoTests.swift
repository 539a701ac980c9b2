// issue 12: the full `session_info` (AsyncAPI SessionInfoMessage) and `hob exec --file`.
import ArgumentParser
import Foundation
import HobAPI
import HobCLI
import HobClient
import Testing

@Suite("Exec session_info")
struct ExecSessionInfoTests {
    @Test("every AsyncAPI field is read")
    func fullMessage() {
        var decoder = ExecStreamDecoder(tty: nil)
        let text = #"{"type":"session_info","session_id":"1847","command":"bash","created":1767609000,"cols":120,"rows":40,"is_owner":true,"tty":true}"#
        let expected = SessionInfoMessage(
            sessionID: "1847", tty: true, command: "bash", created: 1_767_609_000, cols: 120, rows: 40, isOwner: true)
        #expect(decoder.decode(.text(text)) == [.sessionInfo(expected)])
    }

    @Test("an optional field of another type is left out, the TTY mode still arrives")
    func lenientCreated() {
        var decoder = ExecStreamDecoder(tty: nil)
        let events = decoder.decode(.text(#"{"type":"session_info","session_id":"7","tty":false,"created":"2026-01-01T00:00:00Z"}"#))
        #expect(events == [.sessionInfo(SessionInfoMessage(sessionID: "7", tty: false))])
        #expect(decoder.tty == false)
    }

    @Test("the server's encoding uses the AsyncAPI names")
    func encoding() throws {
        let info = SessionInfoMessage(sessionID: "5", tty: false, command: "ls -la", created: 10, cols: 0, rows: 0, isOwner: false)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(info)) as? [String: Any]
        #expect(object?["type"] as? String == "session_info")
        #expect(object?["is_owner"] as? Bool == false)
        #expect(object?["created"] as? Int == 10)
        #expect(object?["command"] as? String == "ls -la")
    }
}

@Suite("hob exec --file")
struct ExecFileUploadTests {
    @Test("src:dest splits at the first colon")
    func absolute() throws {
        #expect(try ExecFileUpload.parse("./run.sh:/tmp/run.sh", directory: nil) == ExecFileUpload(local: "./run.sh", remote: "/tmp/run.sh"))
        #expect(try ExecFileUpload.parse("a:/x:y", directory: nil) == ExecFileUpload(local: "a", remote: "/x:y"))
    }

    @Test("a relative dest lands in --dir, or the sprite's home directory")
    func relative() throws {
        #expect(try ExecFileUpload.parse("data.csv:in/data.csv", directory: "/srv/app").remote == "/srv/app/in/data.csv")
        #expect(try ExecFileUpload.parse("data.csv:data.csv", directory: nil).remote == "/home/sprite/data.csv")
    }

    @Test("a missing side is refused", arguments: ["run.sh", ":/tmp/x", "run.sh:"])
    func refused(argument: String) {
        #expect(throws: (any Error).self) { try ExecFileUpload.parse(argument, directory: nil) }
    }

    @Test("--file is repeatable on the command line")
    func repeatable() throws {
        let exec = try Exec.parse(["demo", "--file", "a:/a", "--file", "b:/b", "--", "ls"])
        #expect(exec.files == ["a:/a", "b:/b"])
    }
}
