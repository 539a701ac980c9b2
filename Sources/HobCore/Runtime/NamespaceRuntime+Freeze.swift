// Freezing a sprite: every process stops at its next return to user space. Used for a consistent
// checkpoint (no write lands between the flush and the snapshot) and for sleep (`warm`: memory
// kept, no CPU used).
import HobOS
import Logging

extension NamespaceRuntime {
    public func freeze(_ id: String) async throws {
        do { try await cgroup(id).freeze() } catch { throw HobError(.internalError, "freeze sprite \(id)", cause: error) }
    }

    /// Thaws the sprite, reporting failure (waking a sleeping sprite).
    public func wake(_ id: String) async throws {
        do { try await cgroup(id).thaw() } catch { throw HobError(.internalError, "thaw sprite \(id)", cause: error) }
    }

    public func isFrozen(_ id: String) -> Bool { cgroup(id).isFrozen }

    /// Thaws the sprite; a no-op for a sprite that is not frozen or has no cgroup.
    public func thaw(_ id: String) async {
        let group = cgroup(id)
        guard group.exists else { return }
        do { try await group.thaw() } catch { logger.error("could not thaw sprite", metadata: ["sprite_id": "\(id)", "error": "\(error)"]) }
    }
}
