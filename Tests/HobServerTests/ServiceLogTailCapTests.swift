// What one logs request may read: a log of any size gives at most ServiceLogTail's caps.
import Foundation
import HobOS
import Testing

@testable import HobServer

@Suite("Service logs: the tail is bounded")
struct ServiceLogTailCapTests {
    /// A temporary sprite disk holding the service `svc`'s log.
    static func disk(log: String) throws -> (RootedDirectory, String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("logtail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/.sprite/logs/services", withIntermediateDirectories: true)
        try Data(log.utf8).write(to: URL(fileURLWithPath: root + "/.sprite/logs/services/svc.log"))
        return (try RootedDirectory(opening: root), root)
    }

    @Test("without lines, at most maxLines lines, the last ones")
    func lineCap() throws {
        let (files, root) = try Self.disk(log: (0..<20_000).map { "\($0)\n" }.joined())
        defer { try? FileManager.default.removeItem(atPath: root) }
        let lines = try ServiceLogTail.read(files, service: "svc", count: nil)
        #expect(lines.count == ServiceLogTail.maxLines)
        #expect(lines.last == "19999\n")
        #expect(try ServiceLogTail.read(files, service: "svc", count: 50_000).count == ServiceLogTail.maxLines)
    }

    @Test("a log bigger than maxBytes gives whole lines from its last maxBytes only")
    func byteCap() throws {
        let line = String(repeating: "x", count: 1023) + "\n"
        let (files, root) = try Self.disk(log: String(repeating: line, count: 3 * 1024))
        defer { try? FileManager.default.removeItem(atPath: root) }
        let lines = try ServiceLogTail.read(files, service: "svc", count: nil)
        #expect(lines.reduce(0) { $0 + $1.utf8.count } <= ServiceLogTail.maxBytes)
        #expect(lines.count >= 1023 && lines.allSatisfy { $0 == line })
    }
}
