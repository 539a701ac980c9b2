// The exec WebSocket protocol as bytes: what the server's frames mean and what the client sends (SPRITES-API.md §4).

import HobAPI
import HobClient
import Testing

@Suite("Exec stream decoding")
struct ExecStreamDecodingTests {
    @Test func nonTTYFramesAreSplitByStreamID() {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.binary([0x01, 0x68, 0x69])) == [.stdout([0x68, 0x69])])
        #expect(decoder.decode(.binary([0x02, 0x21])) == [.stderr([0x21])])
    }

    @Test func emptyOutputFramesAreDropped() {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.binary([0x01])).isEmpty)
        #expect(decoder.decode(.binary([])).isEmpty)
    }

    @Test func ttyFramesAreRawOutputEvenWhenTheyStartWithAStreamID() {
        var decoder = ExecStreamDecoder(tty: true)
        #expect(decoder.decode(.binary([0x03, 0x41])) == [.stdout([0x03, 0x41])])
        #expect(decoder.decode(.binary([0x01, 0x42])) == [.stdout([0x01, 0x42])])
    }

    @Test func exitTextFrameReportsTheStatus() {
        var decoder = ExecStreamDecoder(tty: true)
        #expect(decoder.decode(.text(#"{"type":"exit","exit_code":7,"code":7}"#)) == [.exit(7)])
        #expect(decoder.exitCode == 7)
    }

    @Test func elixirStyleExitTextFrameIsUnderstood() {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.text(#"{"type":"exit","code":3}"#)) == [.exit(3)])
    }

    @Test func binaryExitFrameReportsTheStatus() {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.binary([0x03, 42])) == [.exit(42)])
    }

    @Test func fourByteBinaryExitIsBigEndian() {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.binary([0x03, 0, 0, 1, 2])) == [.exit(258)])
    }

    @Test func exitIsReportedOnceWhenTextThenBinaryArrive() {
        var decoder = ExecStreamDecoder(tty: false)
        let events =
            decoder.decode(.text(#"{"type":"exit","exit_code":1,"code":1}"#)) + decoder.decode(.binary([0x03, 1]))
        #expect(events == [.exit(1)])
    }

    @Test func exitIsReportedOnceWhenBinaryThenTextArrive() {
        var decoder = ExecStreamDecoder(tty: false)
        let events = decoder.decode(.binary([0x03, 2])) + decoder.decode(.text(#"{"type":"exit","exit_code":9}"#))
        #expect(events == [.exit(2)])
    }

    @Test func sessionInfoTellsAnAttachTheTTYMode() {
        var decoder = ExecStreamDecoder(tty: nil)
        let info = decoder.decode(.text(#"{"type":"session_info","session_id":"42","tty":false,"command":"ls"}"#))
        #expect(info == [.sessionInfo(SessionInfoMessage(sessionID: "42", tty: false, command: "ls"))])
        #expect(decoder.tty == false)
        #expect(decoder.decode(.binary([0x02, 0x45])) == [.stderr([0x45])])
    }

    @Test func binaryBeforeSessionInfoIsRawReplay() {
        var decoder = ExecStreamDecoder(tty: nil)
        #expect(decoder.decode(.binary([0x02, 0x45])) == [.stdout([0x02, 0x45])])
    }

    @Test(arguments: [
        #"control:{"type":"op.complete","args":{"exitCode":0}}"#,
        #"{"type":"port_opened","port":3000,"address":"127.0.0.1","pid":1}"#,
        #"{"type":"something_new"}"#,
        "not json at all",
        #"{"no_type":true}"#,
    ])
    func otherTextFramesAreIgnored(text: String) {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.text(text)).isEmpty)
        #expect(decoder.exitCode == nil)
    }

    @Test func clientStreamIDsFromTheServerAreIgnored() {
        var decoder = ExecStreamDecoder(tty: false)
        #expect(decoder.decode(.binary([0x00, 0x41])).isEmpty)
        #expect(decoder.decode(.binary([0x04])).isEmpty)
    }
}

@Suite("WebSocket message assembly")
struct WebSocketMessageAssemblyTests {
    @Test func unfragmentedFramesAreWholeMessages() throws {
        var assembler = WebSocketMessageAssembler()
        #expect(try assembler.receive(.binary, fin: true, payload: [1, 2]) == .binary([1, 2]))
        #expect(try assembler.receive(.text, fin: true, payload: Array("hi".utf8)) == .text("hi"))
    }

    @Test func fragmentsAreJoined() throws {
        var assembler = WebSocketMessageAssembler()
        #expect(try assembler.receive(.binary, fin: false, payload: [0x01, 0x61]) == nil)
        #expect(try assembler.receive(.continuation, fin: false, payload: [0x62]) == nil)
        #expect(try assembler.receive(.continuation, fin: true, payload: [0x63]) == .binary([0x01, 0x61, 0x62, 0x63]))
    }

    @Test func fragmentedTextIsJoinedBeforeUTF8Decoding() throws {
        var assembler = WebSocketMessageAssembler()
        let bytes = Array(#"{"type":"exit","exit_code":0,"x":"ü"}"#.utf8)
        let split = bytes.count - 2  // inside the two-byte ü
        #expect(try assembler.receive(.text, fin: false, payload: Array(bytes[..<split])) == nil)
        let message = try assembler.receive(.continuation, fin: true, payload: Array(bytes[split...]))
        #expect(message == .text(#"{"type":"exit","exit_code":0,"x":"ü"}"#))
    }

    @Test func aContinuationWithoutAStartIsAnError() {
        var assembler = WebSocketMessageAssembler()
        #expect(throws: WebSocketMessageAssembler.Failure.unexpectedContinuation) {
            try assembler.receive(.continuation, fin: true, payload: [1])
        }
    }

    @Test func aNewMessageInsideAFragmentedOneIsAnError() throws {
        var assembler = WebSocketMessageAssembler()
        _ = try assembler.receive(.binary, fin: false, payload: [1])
        #expect(throws: WebSocketMessageAssembler.Failure.interleavedMessage) {
            try assembler.receive(.text, fin: true, payload: [2])
        }
    }

    @Test func oversizedMessagesAreRefused() throws {
        var assembler = WebSocketMessageAssembler(maxMessageBytes: 4)
        _ = try assembler.receive(.binary, fin: false, payload: [1, 2, 3])
        #expect(throws: WebSocketMessageAssembler.Failure.messageTooLarge(limit: 4)) {
            try assembler.receive(.continuation, fin: true, payload: [4, 5])
        }
    }
}

@Suite("Exec client frames")
struct ExecClientFrameTests {
    @Test func nonTTYStdinIsPrefixedWithZero() {
        #expect(ExecStreamEncoder.stdin([0x61, 0x62], tty: false) == [0x00, 0x61, 0x62])
    }

    @Test func ttyStdinIsRaw() {
        #expect(ExecStreamEncoder.stdin([0x03], tty: true) == [0x03])
    }

    @Test func endOfInputIsAFourByteFrameOnlyWithoutATTY() {
        #expect(ExecStreamEncoder.endOfInput(tty: false) == [0x04])
        #expect(ExecStreamEncoder.endOfInput(tty: true) == nil)
    }

    @Test func resizeIsAJSONTextFrame() {
        #expect(ExecStreamEncoder.resize(rows: 40, cols: 120) == #"{"cols":120,"rows":40,"type":"resize"}"#)
    }

    @Test func signalIsAJSONTextFrame() {
        #expect(ExecStreamEncoder.signal("TERM") == #"{"signal":"TERM","type":"signal"}"#)
    }
}

@Suite("API errors")
struct APIErrorTests {
    @Test func structuredErrorBodyIsDecoded() {
        let error = HobClientError.http(
            status: 409, body: Array(#"{"error":"exists","message":"sprite demo already exists"}"#.utf8),
            url: "http://h:1")
        #expect(error.code == .conflict)
        #expect(error.status == 409)
        #expect(error.body == APIErrorBody(error: "exists", message: "sprite demo already exists"))
        #expect(error.message == "sprite demo already exists (HTTP 409)")
    }

    @Test func olderErrorShapesAreUnderstood() {
        #expect(ErrorBodyDecoding.decode(status: 404, body: Array(#"{"error":"sprite not found"}"#.utf8)).message
            == "sprite not found")
        #expect(ErrorBodyDecoding.decode(status: 400, body: Array(#"{"errors":["a","b"]}"#.utf8)).message == "a; b")
    }

    @Test func plainTextBodyBecomesTheMessage() {
        let body = ErrorBodyDecoding.decode(status: 502, body: Array("  upstream down\n".utf8))
        #expect(body == APIErrorBody(error: "http_502", message: "upstream down"))
    }

    @Test func emptyBodyStillNamesTheServer() {
        let error = HobClientError.http(status: 500, body: [], url: "http://h:1")
        #expect(error.message == "the Hob API at http://h:1 answered HTTP 500 without an error message")
    }

    @Test(arguments: [(401, HobClientError.Code.unauthorized), (403, .unauthorized), (404, .notFound),
        (409, .conflict), (410, .sessionExited), (500, .api)])
    func statusMapsToACode(status: Int, code: HobClientError.Code) {
        #expect(HobClientError.http(status: status, body: [], url: "http://h:1").code == code)
    }
}
