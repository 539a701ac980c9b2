import Foundation
import Glibc
import HobAPI
import HobCore
import HobOS
import Hummingbird
import Testing

@testable import HobServer

@Suite("File API: ranges")
struct ByteRangeTests {
    @Test(
        "one range is served; the RFC's suffix and open forms work; ends past the file are clipped",
        arguments: [
            ("bytes=0-9", ByteRange.part(0, 9)), ("bytes=10-", .part(10, 99)), ("bytes=-10", .part(90, 99)), ("bytes=90-500", .part(90, 99)),
            ("bytes=-500", .part(0, 99)), (" bytes=5-5 ", .part(5, 5)), ("BYTES=1-2", .part(1, 2)),
        ])
    func served(header: String, expected: ByteRange) {
        #expect(ByteRange(header: header, size: 100) == expected)
    }

    @Test("a range starting past the end, or an empty suffix, cannot be satisfied", arguments: ["bytes=100-", "bytes=100-200", "bytes=-0"])
    func unsatisfiable(_ header: String) {
        #expect(ByteRange(header: header, size: 100) == .unsatisfiable)
        #expect(ByteRange(header: "bytes=0-", size: 0) == .unsatisfiable)
    }

    @Test(
        "what is not served is ignored and the whole file sent",
        arguments: [nil, "", "items=0-1", "bytes=0-1,5-6", "bytes=5-1", "bytes=a-b", "bytes=-", "bytes=+1-2", "bytes=1", "bytes = 1-2"])
    func ignored(_ header: String?) {
        #expect(ByteRange(header: header, size: 100) == .whole)
    }
}

@Suite("File API: modes and errors")
struct FsModeTests {
    @Test("modes are octal strings, or numbers from sprites-ex")
    func modes() throws {
        #expect(FsMode.parse("0644") == 0o644)
        #expect(FsMode.parse("755") == 0o755)
        #expect(FsMode.parse("0o4755") == 0o4755)
        for bad in ["", "rwx", "0999", "17777", "-1", "+7", "0x1ff", "0000000644"] { #expect(FsMode.parse(bad) == nil, "\(bad)") }
        #expect(FsMode.octal(0o644) == "0644" && FsMode.octal(0o4755) == "4755" && FsMode.octal(0) == "0000")
        let decoded = try JSONDecoder().decode([FsMode].self, from: Data(#"["0600", 493, 70000]"#.utf8))
        #expect(decoded.map(\.bits) == [0o600, 0o755, nil])
    }

    @Test(
        "file errors map to the status their errno calls for",
        arguments: [
            (ENOENT, 404), (EEXIST, 409), (ENOTEMPTY, 409), (EBUSY, 409), (EISDIR, 400), (ENOTDIR, 400), (EINVAL, 400), (ELOOP, 400),
            (ENAMETOOLONG, 400), (EPERM, 403), (EACCES, 403), (ENOSPC, 507), (EIO, 500),
        ])
    func statuses(errno: Int32, status: Int) {
        let error = HobError.file(FileError("open", "/x", errno: errno))
        #expect(APIError.map(error).0.code == status)
        #expect((error.cause as? FileError)?.path == "/x")
    }
}
