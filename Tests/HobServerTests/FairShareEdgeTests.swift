// The edge of fair shares: how a rate limit reaches a client, and the resources policy's wire shape.
import Foundation
import HTTPTypes
import HobAPI
import HobCore
import Hummingbird
import Logging
import NIOCore
import Testing

@testable import HobServer

@Suite("Fair shares at the edge")
struct FairShareEdgeTests {
    @Test("a rate-limited error is a 429 whose Retry-After carries the error's seconds")
    func retryAfter() {
        let middleware = SpritesResponseMiddleware<BasicRequestContext>(logger: Logger(label: "test"))
        let request = Request(head: HTTPRequest(method: .post, scheme: "http", authority: "hob", path: "/v1/sprites/a/checkpoint"), body: .init(buffer: ByteBuffer()))
        let response = middleware.errorResponse(HobError(.rateLimited, "too fast", retryAfter: 7), request: request)
        #expect(response.status.code == 429)
        #expect(response.headers[.retryAfter] == "7")
        let other = middleware.errorResponse(HobError(.resourceExhausted, "full"), request: request)
        #expect(other.status.code == 409)
        #expect(other.headers[.retryAfter] == nil)
    }

    @Test("the resources policy reads limit_mb (and the SDK's limitMB) and writes limit_mb")
    func resourcesWire() throws {
        let snake = try JSONDecoder().decode(ResourcesPolicy.self, from: Data(#"{"memory":{"limit_mb":512,"autoscale":false}}"#.utf8))
        #expect(snake.memory?.limitMB == 512 && snake.memory?.autoscale == false)
        let camel = try JSONDecoder().decode(ResourcesPolicy.self, from: Data(#"{"memory":{"limitMB":1024}}"#.utf8))
        #expect(camel.memory?.limitMB == 1024 && camel.memory?.autoscale == nil)
        let written = String(decoding: try JSONEncoder().encode(ResourcesPolicy(memory: MemoryPolicy(limitMB: 256, autoscale: false))), as: UTF8.self)
        #expect(written.contains(#""limit_mb":256"#) && !written.contains("limitMB"), "\(written)")
    }
}
