// The file API's way to a sprite's disk (SPRITES-API.md §10).
//
// File operations run on the host, on the sprite's subvolume, through RootedDirectory (HobOS),
// which keeps every path inside it. So they work the same on a running, warm or cold sprite, never
// boot or wake it, and do not count as activity: reading a file keeps no process busy, and a
// sprite asleep should stay asleep (and cheap) while a client syncs files with it.
// A running sprite's tmpfs mounts (/dev, /proc, /sys, /dev/shm, /.sprite) are not on its disk and
// so are not seen here.
//
// What they must not race is a restore, which swaps the disk (root → root.old): an operation
// begun on the old disk would land in the one being thrown away. So a restore marks the sprite,
// new file operations are refused (503, retry), and it waits for those in flight before it keeps
// the replaced state as auto-N. A sprite being created has no disk yet (503); one being destroyed
// has left the registry (404). Checkpoints and forks need nothing: a btrfs snapshot is atomic,
// and a write appears in it whole or not at all (files are renamed into place).
import Glibc
import HobOS
import Logging

extension Fleet {
    /// Runs `body` with the disk of sprite `name`. File errors become HobErrors (status from the
    /// errno) whose cause is the FileError, which the API turns into the SDKs' `code`.
    public nonisolated func withFiles<T: Sendable>(_ name: String, _ body: (RootedDirectory) async throws -> T) async throws -> T {
        let (id, root) = try await beginFileAccess(name)
        let result: Result<T, any Error>
        do {
            let files: RootedDirectory
            do {
                files = try await offload { try RootedDirectory(opening: root) }
            } catch {
                throw HobError(.internalError, "the disk of sprite \(name) cannot be opened", cause: error)
            }
            result = .success(try await body(files))
        } catch let error as FileError {
            result = .failure(HobError.file(error))
        } catch {
            result = .failure(error)
        }
        await endFileAccess(id)
        return try result.get()
    }

    func beginFileAccess(_ name: String) throws -> (id: String, root: String) {
        let record = try bootable(name)
        guard !(sprites[record.id]?.diskSwap ?? false) else {
            throw HobError(.unavailable, "sprite \(name) is being restored; retry when the restore is done")
        }
        sprites[record.id]?.fileAccess += 1
        return (record.id, storage.diskDirectory(record.id))
    }

    func endFileAccess(_ id: String) {
        let left = (sprites[id]?.fileAccess ?? 1) - 1
        guard left == 0 else {
            sprites[id]?.fileAccess = left
            return
        }
        sprites[id]?.fileAccess = 0
        let waiters = sprites[id]?.fileAccessWaiters ?? []
        sprites[id]?.fileAccessWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no file operation is in flight on the sprite's disk (a restore calls it after
    /// marking the disk, so that none can start).
    func fileAccessEnded(_ id: String) async {
        guard let inFlight = sprites[id]?.fileAccess, inFlight > 0 else { return }
        logger.info("restore waits for file operations in flight", metadata: ["id": "\(id)", "operations": "\(inFlight)"])
        await withCheckedContinuation { continuation in
            // A sprite destroyed meanwhile has no disk left to wait for (`unregister` resumed the
            // others).
            if sprites[id] == nil { return continuation.resume() }
            sprites[id]?.fileAccessWaiters.append(continuation)
        }
    }
}

extension HobError {
    /// A file operation's failure, with the status its errno calls for: the client's mistake
    /// (4xx) unless the disk itself failed.
    public static func file(_ error: FileError) -> HobError {
        let code: Code =
            switch error.errno {
            case ENOENT: .notFound
            case EEXIST: .exists
            case ENOTEMPTY, EBUSY, ETXTBSY, EMLINK: .invalidState
            case EISDIR, ENOTDIR, EINVAL, ELOOP, ENAMETOOLONG, EXDEV: .invalidArgument
            case EPERM, EACCES, EROFS: .permissionDenied
            case ENOSPC, EDQUOT: .insufficientStorage
            case EFBIG: .tooLarge
            default: .internalError
            }
        return HobError(code, error.description, cause: error)
    }
}
