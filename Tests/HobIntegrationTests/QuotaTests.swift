// Disk quotas under attack: a sprite that writes until it cannot, and sprites that fill the pool.
// What must hold: the writer gets EDQUOT (never EROFS), everyone else and the daemon carry on,
// requests that need space answer 507 with the Sprites error body, and deleting the data makes
// everything writable again without a restart. Plus: the pool file never promises more than the
// host has free beyond the reserve.
import Foundation
import Glibc
import Testing

extension HobIntegration {
    @Suite("Disk quotas", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct QuotaTests {
        @Test("a sprite writing past storage_gb gets EDQUOT, not EROFS; its neighbour and the daemon carry on; deleting the file frees it")
        func spriteAtItsQuota() async throws {
            let daemon = try DaemonFixture.shared()
            let full = TestEnvironment.spriteName("full")
            let neighbour = TestEnvironment.spriteName("next")
            let newcomer = TestEnvironment.spriteName("new")
            try await daemon.cleaningUp(sprites: [full, neighbour, newcomer]) {
                try await daemon.createSprite(full, storageGB: 1)
                try await daemon.createSprite(neighbour)
                let pid = daemon.pid

                let filled = try await daemon.sh(full, "dd if=/dev/zero of=/big bs=1M count=2048 2>&1; sync")
                #expect(filled.stdout.contains("Disk quota exceeded"), "\(filled.stdout)")
                #expect(!filled.stdout.contains("Read-only"), "\(filled.stdout)")
                let more = try await daemon.sh(full, "echo more > /root/more")
                #expect(!more.succeeded && more.stderr.contains("Disk quota exceeded"), "\(more.stdout)\(more.stderr)")

                let written = try await daemon.sh(neighbour, "head -c 16777216 /dev/urandom > /root/data && sync")
                #expect(written.succeeded, "\(written.stdout)\(written.stderr)")
                try await daemon.checkpoint(neighbour)
                try await daemon.createSprite(newcomer)
                #expect(daemon.pid == pid, "the daemon restarted")

                #expect(try await daemon.sh(full, "rm /big && sync").succeeded)
                let writable = try await eventually(timeout: .seconds(10)) {
                    try await daemon.sh(full, "echo more > /root/more && sync").succeeded
                }
                #expect(writable, "still no space after deleting the file")
            }
        }

        @Test("SpriteInfo shows the quota and what counts against it, checkpoints included")
        func infoShowsQuota() async throws {
            let daemon = try DaemonFixture.shared()
            let name = TestEnvironment.spriteName("quota")
            try await daemon.cleaningUp(sprites: [name]) {
                try await daemon.createSprite(name, storageGB: 2)
                let fresh = try await daemon.spriteInfo(name)
                #expect((fresh["storage_quota_bytes"] as? NSNumber)?.int64Value == 2 << 30, "\(fresh)")
                // A new sprite is the base image, which is not charged to it.
                #expect(((fresh["storage_quota_used_bytes"] as? NSNumber)?.int64Value ?? .max) < 1 << 20, "\(fresh)")

                try #require(try await daemon.sh(name, "head -c 67108864 /dev/urandom > /root/a && sync").succeeded)
                try await daemon.checkpoint(name)
                // The checkpoint keeps the first 64 MiB; the rewrite adds 64 MiB more.
                try #require(try await daemon.sh(name, "rm /root/a && head -c 67108864 /dev/urandom > /root/a && sync").succeeded)
                var used: Int64 = 0
                let charged = try await eventually(timeout: .seconds(10)) {
                    used = (try await daemon.spriteInfo(name)["storage_quota_used_bytes"] as? NSNumber)?.int64Value ?? 0
                    return used >= 128 << 20
                }
                #expect(charged, "storage_quota_used_bytes is \(used), expected at least 128 MiB")

                // v1 is the head until there is a newer checkpoint, and the head cannot be deleted.
                try await daemon.checkpoint(name)
                let deleted = try await daemon.http("DELETE", "/v1/sprites/\(name)/checkpoints/v1")
                #expect((200..<300).contains(deleted.status), "\(deleted)")
                // A deleted checkpoint's extents are freed once the sprite has let go of its mount of it.
                let freed = try await eventually(timeout: .seconds(60), every: .seconds(1)) {
                    _ = try await daemon.sh(name, "sync")
                    used = (try await daemon.spriteInfo(name)["storage_quota_used_bytes"] as? NSNumber)?.int64Value ?? .max
                    return used < 100 << 20
                }
                #expect(freed, "storage_quota_used_bytes is \(used) after deleting the checkpoint that held 64 MiB, expected under 100 MiB")
            }
        }

        @Test("a sprite cannot make a subvolume of its own, which could leave its quota group")
        func noOwnSubvolumes() async throws {
            let daemon = try DaemonFixture.shared()
            try await daemon.withSprite { name in
                // BTRFS_IOC_SUBVOL_CREATE (name at offset 8) and _V2 (name at offset 56; with an empty
                // qgroup_inherit it would make a subvolume charged to no group at all).
                let script = """
                    import fcntl, os
                    fd = os.open("/root", os.O_RDONLY)
                    for request, offset in ((0x5000940e, 8), (0x50009418, 56)):
                        buf = bytearray(4096)
                        buf[offset:offset + 4] = b"esc\\0"
                        try:
                            fcntl.ioctl(fd, request, buf)
                            print("created")
                        except OSError as e:
                            print(e.errno)
                    """
                let result = try await daemon.exec(name, ["python3", "-c", script])
                #expect(result.stdout.split(separator: "\n") == ["\(EPERM)", "\(EPERM)"], "\(result.stdout)\(result.stderr)")
                #expect(!(try await daemon.sh(name, "test -e /root/esc")).succeeded, "a subvolume was created")
            }
        }

        @Test("the pool file is no larger than the host's free space minus the reserve")
        func poolFitsTheHost() async throws {
            let daemon = try DaemonFixture.shared()
            let (size, allocated) = try fileSize(daemon.stateDirectory + "/pool.img")
            let host = try hostSpace(daemon.stateDirectory)
            let reserve = max(Int64(5) << 30, host.total / 20)
            // What the file holds already plus what is free now is what the host could ever give it;
            // a gibibyte of slack for free space other processes released since the daemon started.
            #expect(size <= allocated + host.available - reserve + (1 << 30), "pool.img is \(size) bytes, host \(host)")
        }
    }

    @Suite("Disk quotas: restart", .sharedDaemon, .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct QuotaRestartTests {
        @Test("after kill -9 and a restart, sprites are under their quota, also one whose quota group was lost")
        func quotaAfterRestart() async throws {
            let daemon = try DaemonFixture.shared()
            let kept = TestEnvironment.spriteName("kept")
            let lost = TestEnvironment.spriteName("lost")
            try await daemon.cleaningUp(sprites: [kept, lost]) {
                try await daemon.createSprite(kept, storageGB: 1)
                try await daemon.createSprite(lost, storageGB: 1)
                let id = try #require(try await daemon.spriteInfo(lost)["id"] as? String)
                try await daemon.checkpoint(lost)

                await daemon.kill9()
                // As if the sprite predated quotas: the pool (still mounted) forgets its group.
                let groupFile = "\(daemon.stateDirectory)/pool/sprites/\(id)/qgroup"
                #expect(unlink(groupFile) == 0, "no \(groupFile)")
                try await daemon.restart()

                for name in [kept, lost] {
                    let written = try await daemon.sh(name, "head -c 67108864 /dev/urandom > /root/data && sync")
                    #expect(written.succeeded, "\(written.stdout)\(written.stderr)")
                    let info = try await daemon.spriteInfo(name)
                    #expect((info["storage_quota_bytes"] as? NSNumber)?.int64Value == 1 << 30, "\(info)")
                    let used = (info["storage_quota_used_bytes"] as? NSNumber)?.int64Value ?? 0
                    #expect(used >= 64 << 20, "\(name): storage_quota_used_bytes is \(used) after writing 64 MiB")
                }
                let filled = try await daemon.sh(lost, "dd if=/dev/zero of=/big bs=1M count=2048 2>&1")
                #expect(filled.stdout.contains("Disk quota exceeded"), "\(filled.stdout)")
            }
        }
    }

    @Suite("Disk quotas: a full pool", .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct FullPoolTests {
        @Test("when sprites fill the pool, writes fail with EDQUOT, the pool stays writable, create and checkpoint answer 507, and freeing space recovers all")
        func fullPool() async throws {
            // A pool of about 3 GiB: the reserve leaves only that much of the host's free space.
            let host = try hostSpace(NSTemporaryDirectory())
            let reserve = host.available - (3 << 30)
            try #require(reserve > 0, "the host has less than 3 GiB free")
            let daemon = try await DaemonFixture.start(arguments: ["--disk-reserve", "\(reserve)"])
            do {
                try await fillThePool(daemon)
            } catch {
                await daemon.tearDown()
                throw error
            }
            await daemon.tearDown()
        }

        private func fillThePool(_ daemon: DaemonFixture) async throws {
            let (size, _) = try fileSize(daemon.stateDirectory + "/pool.img")
            #expect(size <= 3 << 30 + 512 << 20, "pool.img is \(size) bytes for 3 GiB of free space beyond the reserve")
            let writer = TestEnvironment.spriteName("fill")
            let other = TestEnvironment.spriteName("other")
            let pid = daemon.pid
            try await daemon.cleaningUp(sprites: [writer, other]) {
                try await daemon.createSprite(writer)
                let filled = try await daemon.sh(writer, "dd if=/dev/zero of=/big bs=1M count=8192 2>&1; sync")
                #expect(
                    filled.stdout.contains("Disk quota exceeded") || filled.stdout.contains("No space left"), "\(filled.stdout)")
                #expect(!filled.stdout.contains("Read-only"), "\(filled.stdout)")
                let mount = Mounts.options(of: daemon.stateDirectory + "/pool")
                #expect(mount?.split(separator: ",").first == "rw", "the pool is mounted \(mount ?? "nowhere")")

                let refused = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(other)"}"#.utf8))
                #expect(refused.status == 507, "\(refused)")
                #expect(refused.errorCode == "insufficient_storage", "\(refused)")
                #expect(refused.json?["message"] is String, "\(refused)")
                let checkpoint = try await daemon.http("POST", "/v1/sprites/\(writer)/checkpoint")
                #expect(checkpoint.status == 507, "\(checkpoint)")

                #expect(try await daemon.sh(writer, "rm /big && sync").succeeded)
                var last: HTTPResult?
                let created = try await eventually(timeout: .seconds(20), every: .seconds(1)) {
                    last = try await daemon.http("POST", "/v1/sprites", body: Data(#"{"name":"\#(other)"}"#.utf8))
                    return last?.status == 201
                }
                #expect(created, "create after freeing space: \(String(describing: last))")
                let writes = try await daemon.sh(writer, "echo again > /root/again && sync")
                #expect(writes.succeeded, "\(writes.stdout)\(writes.stderr)")
                #expect(daemon.pid == pid, "the daemon restarted")
            }
        }
    }
}

extension DaemonFixture {
    /// POST /v1/sprites with `config.storage_gb`; fails unless the daemon answers 201.
    func createSprite(_ name: String, storageGB: Int) async throws {
        let body = Data(#"{"name":"\#(name)","config":{"storage_gb":\#(storageGB)}}"#.utf8)
        let response = try await http("POST", "/v1/sprites", body: body)
        guard response.status == 201 else { throw TestFailure("creating sprite \(name): \(response)\n\(logTail())") }
    }
}

private enum Mounts {
    /// The mount options of the filesystem mounted at `path`, from /proc/mounts.
    static func options(of path: String) -> String? {
        let table = KernelFile.text("/proc/mounts")
        let entries: [[Substring]] = table.split(separator: "\n").map { $0.split(separator: " ") }
        guard let entry = entries.last(where: { $0.count > 3 && $0[1] == path }) else { return nil }
        return String(entry[3])
    }
}

private func fileSize(_ path: String) throws -> (size: Int64, allocated: Int64) {
    var st = stat()
    guard stat(path, &st) == 0 else { throw TestFailure("stat \(path): errno \(errno)") }
    return (Int64(st.st_size), Int64(st.st_blocks) * 512)
}

private func hostSpace(_ path: String) throws -> (total: Int64, available: Int64) {
    var fs = statvfs()
    guard statvfs(path, &fs) == 0 else { throw TestFailure("statvfs \(path): errno \(errno)") }
    return (Int64(fs.f_blocks) * Int64(fs.f_frsize), Int64(fs.f_bavail) * Int64(fs.f_frsize))
}
