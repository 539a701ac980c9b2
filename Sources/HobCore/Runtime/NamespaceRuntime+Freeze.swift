// Freezing a sprite for a consistent checkpoint: every process stops at its next return to user
// space, so no write lands between the flush and the snapshot.
import HobOS
import Logging

extension NamespaceRuntime {
    public func freeze(_ id: String) async throws {
        do { try await cgroup(id).freeze() } catch { throw HobError(.internalError, "freeze sprite \(id)", cause: error) }
    }

    /// Thaws the sprite; a no-op for a sprite that is not frozen or has no cgroup.
    public func thaw(_ id: String) async {
        let group = cgroup(id)
        guard group.exists else { return }
        do { try await group.thaw() } catch { logger.error("could not thaw sprite", metadata: ["sprite_id": "\(id)", "error": "\(error)"]) }
    }
}
