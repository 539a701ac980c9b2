// The NDJSON progress of checkpoint and restore as bytes (SPRITES-API.md §7.2): how lines are cut out of chunks, and
// how a stream ends.

import HobAPI
import HobClient
import Testing

@Suite("Checkpoint stream decoding")
struct StreamMessageDecoderTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func eachLineIsOneMessage() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let messages = try decoder.decode(
            bytes(
                #"{"type":"info","data":"Creating checkpoint...","time":"2026-07-12T05:01:17Z"}"# + "\n"
                    + #"{"type":"info","data":"  ID: v1"}"# + "\n"))
        #expect(
            messages == [
                StreamMessage(type: .info, data: "Creating checkpoint...", time: "2026-07-12T05:01:17Z"),
                StreamMessage(type: .info, data: "  ID: v1"),
            ])
        #expect(!decoder.isFinished)
    }

    @Test func aLineSplitAcrossChunksIsDecodedOnceComplete() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        #expect(try decoder.decode(bytes(#"{"type":"in"#)).isEmpty)
        #expect(try decoder.decode(bytes(#"fo","data":"Check"#)).isEmpty)
        let messages = try decoder.decode(bytes("point created successfully\"}\n{\"type\":"))
        #expect(messages == [StreamMessage(type: .info, data: "Checkpoint created successfully")])
        #expect(try decoder.decode(bytes(#""complete","data":"done"}"# + "\n")) == [StreamMessage(type: .complete, data: "done")])
    }

    @Test func aMultiByteCharacterSplitAcrossChunksSurvives() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let line = bytes(#"{"type":"info","data":"café ✓"}"# + "\n")
        let cut = try #require(line.firstIndex(of: 0xE2)) + 1  // inside the three bytes of ✓
        #expect(try decoder.decode(Array(line[..<cut])).isEmpty)
        #expect(try decoder.decode(Array(line[cut...])) == [StreamMessage(type: .info, data: "café ✓")])
    }

    @Test func blankLinesAndCarriageReturnsAreIgnored() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let messages = try decoder.decode(bytes("\n  \n\r\n" + #"{"type":"info","data":"x"}"# + "\r\n\n"))
        #expect(messages == [StreamMessage(type: .info, data: "x")])
    }

    @Test func aLastLineWithoutNewlineIsDecodedAtTheEnd() throws {
        var decoder = StreamMessageDecoder(operation: "restore of sprite demo to v1")
        #expect(try decoder.decode(bytes(#"{"type":"complete","data":"Restored"}"#)).isEmpty)
        #expect(try decoder.finish() == [StreamMessage(type: .complete, data: "Restored")])
    }

    @Test func theCompleteLineEndsTheStream() throws {
        var decoder = StreamMessageDecoder(operation: "restore of sprite demo to v1")
        let messages = try decoder.decode(
            bytes(#"{"type":"complete","data":"Restored"}"# + "\n" + #"{"type":"info","data":"late"}"# + "\n"))
        #expect(messages == [StreamMessage(type: .complete, data: "Restored")])
        #expect(decoder.isFinished)
        #expect(try decoder.decode(bytes(#"{"type":"info","data":"later"}"# + "\n")).isEmpty)
        #expect(try decoder.finish().isEmpty)
    }

    @Test func theErrorLineEndsTheStreamAndCarriesTheServersText() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let messages = try decoder.decode(
            bytes(
                #"{"type":"info","data":"Creating checkpoint..."}"# + "\n"
                    + #"{"type":"error","error":"no space left on the pool"}"# + "\n"))
        #expect(messages.map(\.type) == [.info, .error])
        #expect(decoder.isFinished)
        #expect(try decoder.finish().isEmpty)
        let failure = decoder.failure(messages[1])
        #expect(failure.code == .operationFailed)
        #expect(failure.message == "checkpoint of sprite demo failed: no space left on the pool")
    }

    @Test func anErrorLineWithoutTextStillFails() {
        let decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let failure = decoder.failure(StreamMessage(type: .error))
        #expect(failure.code == .operationFailed)
        #expect(failure.message == "checkpoint of sprite demo failed: the server gave no reason")
    }

    @Test func anErrorLineMayPutItsTextInData() {
        let decoder = StreamMessageDecoder(operation: "restore of sprite demo to v1")
        #expect(decoder.failure(StreamMessage(type: .error, data: "busy")).message == "restore of sprite demo to v1 failed: busy")
    }

    @Test func aStreamThatEndsWithoutCompleteIsAnError() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        _ = try decoder.decode(bytes(#"{"type":"info","data":"Creating checkpoint..."}"# + "\n"))
        let error = #expect(throws: HobClientError.self) { try decoder.finish() }
        #expect(error?.code == .badResponse)
        #expect(error?.message.contains("outcome is unknown") == true)
    }

    @Test func anEmptyStreamIsAnError() {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        #expect(throws: HobClientError.self) { try decoder.finish() }
    }

    @Test func anUnknownTypeIsShownAsInfo() throws {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let messages = try decoder.decode(bytes(#"{"type":"progress","data":"42%"}"# + "\n"))
        #expect(messages == [StreamMessage(type: .info, data: "42%")])
    }

    @Test func aLineThatIsNotJSONIsAnError() {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let error = #expect(throws: HobClientError.self) { try decoder.decode(bytes("<html>Bad Gateway</html>\n")) }
        #expect(error?.code == .badResponse)
        #expect(error?.message.contains("<html>Bad Gateway</html>") == true)
    }

    @Test func anOverlongLineIsRefusedBeforeItsNewline() {
        var decoder = StreamMessageDecoder(operation: "checkpoint of sprite demo")
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: StreamMessageDecoder.maxLineBytes / 2 + 1)
        #expect(throws: Never.self) { try decoder.decode(chunk) }
        #expect(throws: HobClientError.self) { try decoder.decode(chunk) }
    }
}

@Suite("Checkpoint id from a create stream")
struct CreatedCheckpointIDTests {
    @Test func theIDLineNamesTheCheckpoint() {
        let messages = [
            StreamMessage(type: .info, data: "Checkpoint created successfully"),
            StreamMessage(type: .info, data: "  ID: v3"),
            StreamMessage(type: .info, data: "  Path: checkpoints/v3"),
            StreamMessage(type: .complete, data: "Checkpoint v3 created successfully"),
        ]
        #expect(CheckpointProgress.createdCheckpointID(in: messages) == "v3")
    }

    @Test func theCompleteLineIsTheFallback() {
        let messages = [StreamMessage(type: .complete, data: "Checkpoint v12 created successfully")]
        #expect(CheckpointProgress.createdCheckpointID(in: messages) == "v12")
    }

    @Test func otherTextNamesNoCheckpoint() {
        let messages = [StreamMessage(type: .info, data: "Creating checkpoint..."), StreamMessage(type: .complete, data: "Done")]
        #expect(CheckpointProgress.createdCheckpointID(in: messages) == nil)
    }
}
