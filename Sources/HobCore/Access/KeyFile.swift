// The daemon's own keys (the token key, the URL session key, the secrets key): 32 random bytes each, base64 in
// a 0600 file of the state directory (itself 0700), made at first start. Deleting one and
// restarting invalidates what it signed.
import Crypto
import Foundation
import HobOS

public enum KeyFile {
    public static let byteCount = 32

    /// Reads the key at `path`, creating it when there is none. `what` names it in errors, and
    /// `consequence` says what deleting it does.
    public static func loadOrCreate(path: String, what: String, consequence: String) throws -> [UInt8] {
        if Files.exists(path) {
            let text: String
            do {
                text = try Files.read(path)
            } catch {
                throw HobError(.unavailable, "cannot read the \(what) \(path)", cause: error)
            }
            guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count >= byteCount else {
                throw HobError(
                    .invalidState, "\(path) is not a \(what) (base64 of \(byteCount) bytes); delete it to make a new one (\(consequence))")
            }
            return Array(bytes)
        }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        do {
            try Files.writeAtomically(path, Data(key).base64EncodedString() + "\n", mode: 0o600)
        } catch {
            throw HobError(.unavailable, "cannot write the \(what) \(path)", cause: error)
        }
        return key
    }
}
