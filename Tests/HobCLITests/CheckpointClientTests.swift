// The checkpoint calls of HobClient against a scripted HTTP server on 127.0.0.1: what is sent, that progress lines
// are delivered while the response is still open, and how failures before and during the stream surface.

import Dispatch
import Foundation
import HobAPI
import HobClient
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Checkpoint client")
struct CheckpointClientTests {
    static let streamHead =
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"

    static func chunk(_ text: String) -> String {
        String(text.utf8.count, radix: 16) + "\r\n" + text + "\r\n"
    }

    static let lastChunk = "0\r\n\r\n"

    static func client(_ server: ScriptedHTTPServer) -> HobClient {
        HobClient(endpoint: HobEndpoint(baseURL: "http://127.0.0.1:\(server.port)", token: "secret"))
    }

    @Test func progressArrivesWhileTheResponseIsStillOpen() async throws {
        let gate = DispatchSemaphore(value: 0)
        let server = try ScriptedHTTPServer([
            .send(Self.streamHead + Self.chunk(#"{"type":"info","data":"Creating checkpoint..."}"# + "\n")),
            // The rest is held back until the client has shown the first line.
            .waitFor(gate),
            .send(
                Self.chunk(
                    #"{"type":"info","data":"  ID: v3"}"# + "\n"
                        + #"{"type":"complete","data":"Checkpoint v3 created successfully"}"# + "\n") + Self.lastChunk),
        ])
        let progress = try await Self.client(server).createCheckpoint(sprite: "demo", comment: "before upgrade")
        var iterator = progress.makeAsyncIterator()
        let first = try await iterator.next()
        #expect(first == StreamMessage(type: .info, data: "Creating checkpoint..."))
        gate.signal()
        var messages = [first].compactMap { $0 }
        while let message = try await iterator.next() { messages.append(message) }
        #expect(messages.map(\.type) == [.info, .info, .complete])
        #expect(CheckpointProgress.createdCheckpointID(in: messages) == "v3")
        #expect(!server.gateTimedOut)

        let request = await server.request()
        #expect(request.hasPrefix("POST /v1/sprites/demo/checkpoint HTTP/1.1\r\n"))
        #expect(request.contains("Authorization: Bearer secret\r\n"))
        #expect(request.hasSuffix(#"{"comment":"before upgrade"}"#))
    }

    @Test func restorePostsToTheCheckpoint() async throws {
        let server = try ScriptedHTTPServer([
            .send(Self.streamHead + Self.chunk(#"{"type":"complete","data":"Restored"}"# + "\n") + Self.lastChunk)
        ])
        var messages: [StreamMessage] = []
        for try await message in try await Self.client(server).restoreCheckpoint(sprite: "demo", id: "v1") {
            messages.append(message)
        }
        #expect(messages == [StreamMessage(type: .complete, data: "Restored")])
        #expect(await server.request().hasPrefix("POST /v1/sprites/demo/checkpoints/v1/restore HTTP/1.1\r\n"))
    }

    @Test func aRefusalBeforeTheStreamIsAnHTTPError() async throws {
        let body = #"{"error":"not_found","message":"sprite demo not found"}"#
        let server = try ScriptedHTTPServer([
            .send(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Connection: close\r\n\r\n" + body)
        ])
        let error = await #expect(throws: HobClientError.self) {
            _ = try await Self.client(server).createCheckpoint(sprite: "demo")
        }
        #expect(error?.code == .notFound)
        #expect(error?.body?.message == "sprite demo not found")
    }

    @Test func anErrorLineFailsTheOperationAfterTheEarlierLines() async throws {
        let server = try ScriptedHTTPServer([
            .send(
                Self.streamHead
                    + Self.chunk(
                        #"{"type":"info","data":"Creating checkpoint..."}"# + "\n"
                            + #"{"type":"error","error":"no space left on the pool"}"# + "\n") + Self.lastChunk)
        ])
        var seen: [StreamMessage] = []
        let error = await #expect(throws: HobClientError.self) {
            for try await message in try await Self.client(server).createCheckpoint(sprite: "demo") {
                seen.append(message)
            }
        }
        #expect(seen == [StreamMessage(type: .info, data: "Creating checkpoint...")])
        #expect(error?.code == .operationFailed)
        #expect(error?.message == "checkpoint of sprite demo failed: no space left on the pool")
    }

    @Test func aConnectionDroppedMidStreamIsAnError() async throws {
        let server = try ScriptedHTTPServer([
            .send(Self.streamHead + Self.chunk(#"{"type":"info","data":"Creating checkpoint..."}"# + "\n"))
        ])
        let error = await #expect(throws: HobClientError.self) {
            for try await _ in try await Self.client(server).createCheckpoint(sprite: "demo") {}
        }
        #expect(error?.code == .badResponse)
        #expect(error?.message.hasPrefix("checkpoint of sprite demo:") == true)
    }

    @Test func aHistoryListSentAsPlainTextIsStillDecoded() async throws {
        let body = #"[{"id":"v2","create_time":"t","history":["v1"],"comment":"","is_auto":false,"size_bytes":null}]"#
        let server = try ScriptedHTTPServer([
            .send(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Connection: close\r\n\r\n" + body)
        ])
        let list = try await Self.client(server).listCheckpoints(sprite: "demo", includeAuto: true, history: "v1")
        #expect(list == [CheckpointInfo(id: "v2", createTime: "t", comment: "", history: ["v1"], isAuto: false)])
        #expect(await server.request().hasPrefix("GET /v1/sprites/demo/checkpoints?history=v1&includeAuto=true HTTP/1.1"))
    }

    @Test func forkSendsTheSourceWithCreate() async throws {
        let sprite = SpriteInfo(
            id: "s2", name: "copy", organization: "hob", status: .cold, config: SpriteConfig(), environment: [:],
            createdAt: "t", updatedAt: "t", url: "http://copy", urlSettings: URLSettings(), labels: [])
        let body = String(decoding: try JSONEncoder().encode(sprite), as: UTF8.self)
        let server = try ScriptedHTTPServer([
            .send(
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Connection: close\r\n\r\n" + body)
        ])
        #expect(try await Self.client(server).fork(source: "demo", checkpoint: "v2", name: "copy") == sprite)
        let request = await server.request()
        #expect(request.hasPrefix("POST /v1/sprites HTTP/1.1\r\n"))
        let headEnd = try #require(request.range(of: "\r\n\r\n"))
        let sent = try JSONDecoder().decode(CreateSpriteRequest.self, from: Data(request[headEnd.upperBound...].utf8))
        #expect(sent == CreateSpriteRequest(name: "copy", source: ForkSource(sprite: "demo", checkpoint: "v2")))
    }
}

/// A server for one connection on 127.0.0.1 that reads the request, then plays its steps and closes, so a test can
/// hold a response open at a chosen point. Runs on its own thread: its socket calls block.
final class ScriptedHTTPServer: Sendable {
    enum Step: Sendable {
        case send(String)
        /// Waits (up to 5 s) until the test signals the semaphore.
        case waitFor(DispatchSemaphore)
    }

    let port: Int
    private let state = Mutex<(request: String?, gateTimedOut: Bool)>((nil, false))
    private let finished = DispatchSemaphore(value: 0)

    init(_ steps: [Step]) throws {
        let listener = socket(AF_INET, Self.streamSocket, 0)
        guard listener >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(listener, raw, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, raw, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            serve(listener: listener, steps: steps)
        }
    }

    var gateTimedOut: Bool { state.withLock { $0.gateTimedOut } }

    /// The request as received (head and body); waits until the exchange is over.
    func request() async -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                _ = self.finished.wait(timeout: .now() + 10)
                self.finished.signal()
                continuation.resume(returning: self.state.withLock { $0.request } ?? "")
            }
        }
    }

    private func serve(listener: Int32, steps: [Step]) {
        defer {
            close(listener)
            finished.signal()
        }
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 10_000) == 1 else { return }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        let request = readRequest(connection)
        state.withLock { $0.request = request }
        for step in steps {
            switch step {
            case .send(let text):
                var bytes = Array(text.utf8)[...]
                while !bytes.isEmpty {
                    let n = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 { return }
                    bytes = bytes.dropFirst(n)
                }
            case .waitFor(let gate):
                if gate.wait(timeout: .now() + 5) == .timedOut { state.withLock { $0.gateTimedOut = true } }
            }
        }
    }

    /// Reads the head, then as many body bytes as Content-Length announces.
    private func readRequest(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let text = String(decoding: bytes, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if text.utf8.count - text.utf8.distance(from: text.startIndex, to: end.upperBound) >= length {
                    return text
                }
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes += buffer[0..<n]
        }
    }

    #if canImport(Glibc)
    private static let streamSocket = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamSocket = SOCK_STREAM
    #endif
}
