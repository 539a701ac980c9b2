// Kernel files are read whole (Files.readBytes), and a loop device is found by the file behind it.
import Foundation
import Glibc
import HobOS
import Testing

@Suite("Kernel files")
struct KernelFileTests {
    @Test("a /proc file longer than a page is read to its end (procfs reports size 0 and gives a page per read)")
    func procFileReadWhole() throws {
        // A Swift test process maps dozens of libraries: its maps are far longer than 4 KB, and the
        // stack is among the last lines.
        let text = try Files.read("/proc/self/maps")
        #expect(text.utf8.count > 8192, "only \(text.utf8.count) bytes of /proc/self/maps")
        #expect(text.hasSuffix("\n"))
        #expect(text.contains("[stack]"), "the end of /proc/self/maps is missing")
    }

    @Test("a regular file is read whole, and a missing one fails with ENOENT naming the path")
    func regularAndMissing() throws {
        let path = "/tmp/hob-kernelfile-\(getpid())"
        defer { unlink(path) }
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try Files.readBytes(path) == bytes)
        do {
            _ = try Files.readBytes(path + ".missing")
            Issue.record("reading a missing file succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.operation.contains(path + ".missing"))
        }
    }

    @Test(
        "the loop device serving a file is found by the file, whatever path names it",
        .enabled(if: getuid() == 0, "requires root (losetup)"))
    func loopDeviceOfFile() throws {
        let file = "/tmp/hob-loopfile-\(getpid())"
        let link = file + ".link"
        defer {
            unlink(link)
            unlink(file)
        }
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        try #require(ftruncate(fd, 8 << 20) == 0)
        close(fd)
        try #require(symlink(file, link) == 0)
        #expect(Mounts.loopDevices(backing: file).isEmpty, "no loop device serves a new file")

        let device = try run("losetup", ["--find", "--show", file]).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("losetup", ["-d", device]) }
        try #require(device.hasPrefix("/dev/loop"), "losetup printed \(device)")
        #expect(Mounts.loopDevices(backing: file) == [device])
        #expect(Mounts.loopDevices(backing: link) == [device])
        #expect(Mounts.loopMount(of: file, at: "/nowhere") == nil, "an unmounted device is not a mount")
    }

    @Test("mounts below a directory are listed deepest first, and not the directory itself or a sibling with its prefix")
    func pointsBelow() {
        let entries = ["/", "/srv/img.partial", "/srv/img.partial/rootfs/proc", "/srv/img.partial/rootfs/proc/sys", "/srv/img.partial2/x"]
            .map { MountEntry(mountPoint: $0, fsType: "proc", source: "proc") }
        #expect(Mounts.points(below: "/srv/img.partial", in: entries) == ["/srv/img.partial/rootfs/proc/sys", "/srv/img.partial/rootfs/proc"])
    }

    @Test("what a cut-short image build left mounted is detached, so its directory can go", .enabled(if: getuid() == 0, "requires root (mount)"))
    func detachLeftovers() throws {
        let work = "/tmp/hob-partial-\(getpid())"
        defer { _ = try? run("rm", ["-rf", "--one-file-system", work]) }
        try #require(mkdir(work, 0o755) == 0 && mkdir(work + "/rootfs", 0o755) == 0 && mkdir(work + "/rootfs/proc", 0o755) == 0)
        _ = try run("mount", ["-t", "proc", "proc", work + "/rootfs/proc"])
        #expect(Mounts.points(below: work) == [work + "/rootfs/proc"])
        #expect(Mounts.detachAll(below: work).isEmpty)
        #expect(Mounts.points(below: work).isEmpty)
        _ = try run("rm", ["-rf", "--one-file-system", work])
        #expect(access(work, F_OK) != 0)
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SystemError(operation: "\(tool) \(arguments)", errno: 0) }
        return String(decoding: data, as: UTF8.self)
    }
}
