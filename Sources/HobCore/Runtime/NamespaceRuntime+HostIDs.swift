// Runtime: the host uid/gid range each of this daemon's sprites runs under (HostIDRanges.swift),
// and who a host uid belongs to.
import Foundation
import Glibc
import HobOS
import Logging
import Synchronization

extension NamespaceRuntime {
    /// A range for a sprite about to boot (host-wide, under the table's lock).
    func allocateHostIDs(_ id: String) async throws -> HostIDRange {
        let range = try await offload { [hostIDs] in try hostIDs.allocate(id) }
        rangeOwners.withLock { $0[range.index] = id }
        return range
    }

    /// Keeps the range an adopted sprite runs under. False (the sprite is then not adopted) when
    /// the table gives it to another sprite.
    func claimHostIDs(_ range: HostIDRange, for sprite: SpriteRecord) async -> Bool {
        do {
            guard try await offload({ [hostIDs] in try hostIDs.claim(range, for: sprite.id) }) else {
                logger.with(sprite: sprite).warning("the sprite's host uid range is held by another sprite; restarting it")
                return false
            }
        } catch {
            logger.with(sprite: sprite).warning("could not keep the sprite's host uid range; restarting it", metadata: ["error": "\(error)"])
            return false
        }
        rangeOwners.withLock { $0[range.index] = sprite.id }
        return true
    }

    func releaseHostIDs(_ id: String) async {
        do { try await offload { [hostIDs] in try hostIDs.release(id) } } catch {
            logger.warning("could not release the sprite's host uid range", metadata: ["sprite_id": "\(id)", "error": "\(error)"])
        }
        rangeOwners.withLock { $0 = $0.filter { $0.value != id } }
    }

    /// Once the sprites that survived a restart are adopted: gives back the other ranges this
    /// instance held (a range that processes still run under stays taken).
    public func finishAdoption() async {
        let adopted = Set(rangeOwners.withLock { $0.values })
        do { try await offload { [hostIDs] in try hostIDs.releaseAll(except: adopted) } } catch {
            logger.warning("could not release host uid ranges of sprites that did not survive", metadata: ["error": "\(error)"])
        }
    }

    /// The id of this daemon's sprite whose users run under the caller's host uid (each running
    /// sprite has a range of its own); nil for host processes, other daemons' sprites and ranges
    /// no sprite holds.
    public func spriteID(ofCaller caller: PeerCredentials) -> String? {
        guard let range = HostIDRange(containing: caller.uid) else { return nil }
        return rangeOwners.withLock { $0[range.index] }
    }

    /// The host id that root of `pid`'s user namespace maps to (first line of its uid_map).
    static func hostUIDBase(of pid: pid_t) -> UInt32? {
        guard let map = try? Files.read("/proc/\(pid)/uid_map") else { return nil }
        let fields = map.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 3, fields[0] == "0" else { return nil }
        return UInt32(fields[1])
    }
}
