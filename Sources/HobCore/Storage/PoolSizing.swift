// How big the storage pool may be, and how much of it sprites may fill: arithmetic only.
//
// The pool is a sparse file on the host's filesystem. A sparse file's size is a promise, not an
// allocation: if the host runs out of space while the pool still believes it has room, writes to
// the loop device fail and btrfs turns the whole pool read-only (acknowledged writes lost, every
// sprite EROFS). So the pool never promises more than the host can give: its file is sized
// against the host's FREE space minus a reserve, and, because free space moves after that (other
// files, the database, logs), the bytes all sprites together may hold (the limit on their common
// quota group) are recomputed from the free space as it is now.
import Foundation

/// What the host filesystem under the pool holds (statvfs).
public struct HostSpace: Sendable, Equatable {
    public var total: Int64
    /// Free bytes an unprivileged writer may still use (f_bavail).
    public var available: Int64

    public init(total: Int64, available: Int64) {
        self.total = total
        self.available = available
    }
}

/// How much of the host filesystem the pool must leave free (`hob serve --disk-reserve`).
public enum DiskReserve: Sendable, Equatable, CustomStringConvertible {
    /// max(5 GiB, 5% of the host filesystem).
    case standard
    case bytes(Int64)
    /// A share of the host filesystem's size, 0…0.9.
    case fraction(Double)

    static let standardMinimum: Int64 = 5 << 30

    public func bytes(hostTotal: Int64) -> Int64 {
        switch self {
        case .standard: return max(Self.standardMinimum, hostTotal / 20)
        case .bytes(let n): return n
        case .fraction(let f): return Int64(Double(hostTotal) * f)
        }
    }

    /// "5G", "512M", "10%", "0", or "default".
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "default" { self = .standard; return }
        if t.hasSuffix("%") {
            guard let percent = Double(t.dropLast()), percent >= 0, percent <= 90 else { return nil }
            self = .fraction(percent / 100)
            return
        }
        let units: [Character: Int64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
        var digits = Substring(t)
        var unit: Int64 = 1
        if let last = t.last, let u = units[last] {
            unit = u
            digits = digits.dropLast()
        }
        guard let n = Double(digits), n >= 0, n * Double(unit) < 9e18 else { return nil }
        self = .bytes(Int64(n * Double(unit)))
    }

    public var description: String {
        switch self {
        case .standard: return "max(5G, 5%)"
        case .bytes(let n): return ByteText.format(n)
        case .fraction(let f): return "\(Int(f * 100))%"
        }
    }
}

public enum PoolSizing {
    /// Below this a pool is useless: the base image alone takes a few hundred megabytes.
    public static let minimumPool: Int64 = 2 << 30
    /// An existing pool file grows at start only by at least this much (a resize is a btrfs
    /// operation, not worth doing for crumbs).
    static let growthStep: Int64 = 1 << 30

    /// The size of a new pool file: what the host can give beyond the reserve, at most `maxSize`.
    /// Nil when that is below `minimumPool`.
    public static func newPoolSize(host: HostSpace, reserve: Int64, maxSize: Int64) -> Int64? {
        let size = min(maxSize, host.available - reserve)
        return size >= minimumPool ? size : nil
    }

    /// The size an existing pool file may grow to at start (its allocated blocks plus what the host
    /// can give beyond the reserve, at most `maxSize`); nil when it should stay as it is. A pool
    /// is never shrunk: an oversized old one is held in by the sprites' budget instead.
    public static func grownPoolSize(current: Int64, allocated: Int64, host: HostSpace, reserve: Int64, maxSize: Int64) -> Int64? {
        let target = min(maxSize, allocated + host.available - reserve)
        return target >= current + growthStep ? target : nil
    }

    /// Bytes that all sprites together may be charged for (the limit on their common quota group).
    ///
    /// The pool can hold at most its capacity, and at most what it holds now plus what the host can
    /// still give beyond the reserve (each new byte in the pool may need a new byte of the file).
    /// What is not charged to sprites (base images, btrfs metadata) keeps its share, and a headroom
    /// stays free so that btrfs itself never runs out of space for metadata (which is when it
    /// aborts transactions and turns read-only).
    public static func spriteBudget(poolCapacity: Int64, poolUsed: Int64, spritesCharged: Int64, host: HostSpace?, reserve: Int64) -> Int64 {
        var canHold = poolCapacity
        if let host { canHold = min(canHold, poolUsed + max(0, host.available - reserve)) }
        let notSprites = max(0, poolUsed - spritesCharged)
        return max(0, canHold - notSprites - headroom(poolCapacity: poolCapacity))
    }

    /// Kept free inside the pool: 5% of it, at least 1 GiB, at most 4 GiB. The floor is what
    /// btrfs needs to allocate one more metadata chunk (256 MiB, twice over with DUP) plus margin:
    /// with less, sprites' data can take the last unallocated space, and then even a small host-side
    /// write (a quota group file, a snapshot) fails with EIO while the pool looks half empty
    /// (measured on a 3 GiB pool: data 2.48 GiB full, metadata DUP 512 MiB raw, 1 MiB unallocated).
    public static func headroom(poolCapacity: Int64) -> Int64 {
        min(max(1 << 30, poolCapacity / 20), 4 << 30)
    }
}

/// Byte counts for logs and messages: "5G", "512M", "1.5G".
enum ByteText {
    static func format(_ n: Int64) -> String {
        for (unit, size) in [("T", Int64(1) << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where n >= size {
            let value = Double(n) / Double(size)
            return value == value.rounded() ? "\(Int64(value))\(unit)" : "\(String(format: "%.1f", value))\(unit)"
        }
        return "\(n)"
    }
}
