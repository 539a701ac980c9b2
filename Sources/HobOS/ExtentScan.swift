// Where a directory tree's file data lives on disk, from FIEMAP: the physical extents it references
// and how many of its bytes no other file or snapshot shares (what deleting it would free).
//
// This is how Hob accounts checkpoint space. btrfs quota groups give the same numbers, but they make
// every transaction commit walk back-references across all snapshots, which slowed a checkpoint
// from ~12 ms to 40–60 ms and grew with each one (measured); a scan costs nothing until someone asks.
import Glibc

public struct ExtentScan: Sendable {
    /// Physical start → length of every data extent referenced.
    public var extents: [UInt64: UInt64] = [:]
    /// Bytes in extents the kernel reports as not shared, plus `unmappedBytes`.
    public var exclusiveBytes: Int64 = 0
    /// Data not yet written out (no extent yet). Small files stored inline in metadata are not
    /// counted at all: FIEMAP cannot say whether a snapshot shares them.
    public var unmappedBytes: Int64 = 0

    public init() {}

    /// Bytes of `extents` that are not in `other`.
    public func bytes(notIn other: [UInt64: UInt64]) -> Int64 {
        var total: Int64 = 0
        for (start, length) in extents where other[start] == nil { total += Int64(length) }
        return total
    }

    /// Directories not read because they lie deeper than `maxDepth`, or could not be opened;
    /// what they hold is not counted (the result is then a lower bound).
    public var skippedDirectories: Int = 0

    /// How deep a scan descends below its root. A sprite can make a directory chain as deep as it
    /// likes; the walk holds one open directory per level, so this bounds its descriptors (and
    /// its memory) whatever the sprite did. Real trees (node_modules included) stay far above it.
    public static let maxDepth = 256

    /// Scans every regular file under `root` without following symlinks, down to `maxDepth`.
    public static func scan(_ root: String, maxDepth: Int = ExtentScan.maxDepth) throws(SystemError) -> ExtentScan {
        let fd = try syscall("open \(root)") { open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        var result = ExtentScan()
        var buffer = [UInt8](repeating: 0, count: headerSize + extentSize * extentsPerCall)
        walk(fd, maxDepth: maxDepth, into: &result, buffer: &buffer)  // closes fd
        return result
    }

    // struct fiemap: u64 start, u64 length, u32 flags, u32 mapped_extents, u32 extent_count,
    // u32 reserved, then struct fiemap_extent[] of 56 bytes: u64 logical, u64 physical, u64 length,
    // u64 reserved[2], u32 flags, u32 reserved[3].
    static let headerSize = 32
    static let extentSize = 56
    static let extentsPerCall = 128
    static let fsIocFiemap: UInt = 0xC020_660B
    static let lastFlag: UInt32 = 0x1
    static let delallocFlag: UInt32 = 0x4
    static let inlineFlag: UInt32 = 0x200
    static let sharedFlag: UInt32 = 0x2000

    /// Depth-first over the tree under `root`, iteratively: `path` holds the open directories from
    /// the root to the one being read (never more than maxDepth + 1), so neither the stack nor the
    /// descriptor table grows with the tree's depth. Unreadable entries are skipped (a sprite may
    /// have made anything of its disk), so the result is a lower bound rather than an error.
    private static func walk(_ root: Int32, maxDepth: Int, into result: inout ExtentScan, buffer: inout [UInt8]) {
        guard let top = fdopendir(root) else {
            close(root)
            result.skippedDirectories += 1
            return
        }
        var path: [OpaquePointer] = [top]
        while let dir = path.last {
            guard let entry = readdir(dir) else {
                closedir(dir)
                path.removeLast()
                continue
            }
            let type = entry.pointee.d_type
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            if type == UInt8(DT_DIR) {
                guard path.count <= maxDepth else {
                    result.skippedDirectories += 1
                    continue
                }
                let child = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else {
                    result.skippedDirectories += 1
                    continue
                }
                guard let opened = fdopendir(child) else {
                    close(child)
                    result.skippedDirectories += 1
                    continue
                }
                path.append(opened)
            } else if type == UInt8(DT_REG) {
                let file = openat(dirfd(dir), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
                guard file >= 0 else { continue }
                mapExtents(of: file, into: &result, buffer: &buffer)
                close(file)
            }
        }
    }

    private static func mapExtents(of file: Int32, into result: inout ExtentScan, buffer: inout [UInt8]) {
        var start: UInt64 = 0
        while true {
            let mapped: Int = buffer.withUnsafeMutableBytes { raw in
                for i in 0..<headerSize { raw[i] = 0 }
                raw.storeBytes(of: start, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: UInt64.max - start, toByteOffset: 8, as: UInt64.self)
                raw.storeBytes(of: UInt32(extentsPerCall), toByteOffset: 24, as: UInt32.self)
                guard ioctl(file, fsIocFiemap, raw.baseAddress!) == 0 else { return 0 }
                return Int(raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
            }
            guard mapped > 0 else { return }
            var last = false
            buffer.withUnsafeBytes { raw in
                for i in 0..<mapped {
                    let base = headerSize + i * extentSize
                    let logical = raw.loadUnaligned(fromByteOffset: base, as: UInt64.self)
                    let physical = raw.loadUnaligned(fromByteOffset: base + 8, as: UInt64.self)
                    let length = raw.loadUnaligned(fromByteOffset: base + 16, as: UInt64.self)
                    let flags = raw.loadUnaligned(fromByteOffset: base + 40, as: UInt32.self)
                    if flags & inlineFlag != 0 {
                        // Stored in metadata; see unmappedBytes.
                    } else if flags & delallocFlag != 0 {
                        // Not yet written: this file's alone.
                        result.exclusiveBytes += Int64(length)
                        result.unmappedBytes += Int64(length)
                    } else {
                        result.extents[physical] = max(result.extents[physical] ?? 0, length)
                        if flags & sharedFlag == 0 { result.exclusiveBytes += Int64(length) }
                    }
                    start = logical + length
                    if flags & lastFlag != 0 { last = true }
                }
            }
            if last || mapped < extentsPerCall { return }
        }
    }
}
