import Foundation
import HobAPI
import HobCore
import Testing

@testable import HobServer

@Suite("Secret routes")
struct SecretRoutesTests {
    @Test("a PUT body becomes the secret it describes, and the answer names headers but holds no value")
    func putBodyAndAnswer() async throws {
        let body = try JSONDecoder().decode(
            SecretRequest.self,
            from: Data(#"{"host": "api.example.com", "headers": {"X-Team": "t-1", "Authorization": "Bearer sk-hidden"}, "access": {"labels": ["agents"], "paths": ["/v1/*"]}}"#.utf8))
        let secret = SecretRoutes.secret(name: "example", body)
        #expect(secret.scheme == "https")
        #expect(secret.headers.map(\.name) == ["Authorization", "X-Team"])
        #expect(secret.access == SecretAccess(labels: ["agents"], paths: ["/v1/*"]))
        let vault = try await SecretVault(store: MemorySecretStore(), key: [UInt8](repeating: 1, count: 32))
        let info = SecretRoutes.info(try await vault.set(secret))
        #expect(info.headerNames == ["Authorization", "X-Team"])
        #expect(info.access == SecretAccess(labels: ["agents"], paths: ["/v1/*"]))
        let json = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
        #expect(json.contains("\"header_names\""))
        #expect(!json.contains("sk-hidden") && !json.contains("t-1"))
        #expect(!json.contains("all_sprites"))
    }

    @Test("a PUT body without access is usable by no sprite")
    func noAccess() throws {
        let body = try JSONDecoder().decode(SecretRequest.self, from: Data(#"{"host": "h.example", "headers": {"A": "b"}}"#.utf8))
        #expect(!SecretRoutes.secret(name: "a", body).access.admitsAnySprite)
    }
}
