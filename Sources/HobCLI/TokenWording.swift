// How `hob token inspect` and `hob token create` describe caveats in words, and the JSON `inspect --json` prints.

import ArgumentParser
import Foundation
import HobAPI
import HobAccess

/// Caveats and expiry times in words, for `inspect`, `create` and the scope summary.
enum CaveatWording {
    /// One caveat's text in words, or why it is not one.
    static func describe(_ text: String, now: Date) -> String {
        do {
            return describe(try Caveat.parse(text), now: now)
        } catch {
            return "invalid caveat \"\(text)\": \(error.description)"
        }
    }

    static func describe(_ caveat: Caveat, now: Date) -> String {
        switch caveat {
        case .expires(let t):
            let past = Int64(now.timeIntervalSince1970.rounded(.down)) >= t
            return (past ? "expired " : "expires ") + moment(t, now: now)
        case .sprites(let names):
            return (names.count == 1 ? "only sprite: " : "only sprites: ") + names.joined(separator: ", ")
        case .prefix(let p):
            return "only sprites whose name starts with \"\(p)\""
        case .label(let l):
            return "only sprites labelled \"\(l)\""
        case .ops(let ops):
            return ops.isEmpty ? "no operations" : "only operations: " + ops.sorted().map(\.rawValue).joined(separator: ", ")
        case .maxSprites(let n):
            return "creates sprites only while fewer than \(n) of its sprites exist"
        }
    }

    /// `2026-12-07T13:00:00Z (in 9m)` or `2026-12-07T13:00:00Z (9m ago)`.
    static func moment(_ unixSeconds: Int64, now: Date) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(unixSeconds))
        let delta = unixSeconds - Int64(now.timeIntervalSince1970.rounded(.down))
        return "\(date.ISO8601Format()) (\(delta > 0 ? "in \(span(delta))" : "\(span(-delta)) ago"))"
    }

    /// A rough span: `45s`, `9m`, `2h5m`, `3d4h`: the two largest units, rounded down.
    static func span(_ seconds: Int64) -> String {
        let s = max(seconds, 0)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86400 { return "\(s / 3600)h" + (s % 3600 / 60 > 0 ? "\(s % 3600 / 60)m" : "") }
        return "\(s / 86400)d" + (s % 86400 / 3600 > 0 ? "\(s % 86400 / 3600)h" : "")
    }
}

/// What `hob token inspect` prints: the token's claims, read without its signature.
struct TokenReport: Encodable {
    struct CaveatLine: Encodable, Equatable {
        var text: String
        var meaning: String?
        var error: String?
    }

    struct ScopeSummary: Encodable, Equatable {
        var sprites: String
        var operations: [String]
        var expiresAt: String?
        var maxSprites: Int?

        enum CodingKeys: String, CodingKey {
            case sprites, operations
            case expiresAt = "expires_at"
            case maxSprites = "max_sprites"
        }
    }

    var admin: Bool
    var org: String?
    var id: String?
    var caveats: [CaveatLine]
    /// Nil when a caveat cannot be read: the daemon refuses such a token outright.
    var scope: ScopeSummary?
    /// Always false: only the daemon holds the key.
    var signatureChecked = false
    /// The expiry in words, for the text form.
    private var expiryText: String?

    enum CodingKeys: String, CodingKey {
        case admin, org, id, caveats, scope
        case signatureChecked = "signature_checked"
    }

    static let admin = TokenReport(admin: true, org: nil, id: nil, caveats: [], scope: nil)

    private init(admin: Bool, org: String?, id: String?, caveats: [CaveatLine], scope: ScopeSummary?) {
        self.admin = admin
        self.org = org
        self.id = id
        self.caveats = caveats
        self.scope = scope
    }

    init(_ token: AccessToken, now: Date) {
        admin = false
        org = token.org
        id = token.id
        var parsed: [Caveat] = []
        var lines: [CaveatLine] = []
        for text in token.macaroon.caveats {
            do {
                let caveat = try Caveat.parse(text)
                parsed.append(caveat)
                lines.append(CaveatLine(text: text, meaning: CaveatWording.describe(caveat, now: now)))
            } catch {
                lines.append(CaveatLine(text: text, error: error.description))
            }
        }
        caveats = lines
        guard lines.allSatisfy({ $0.error == nil }) else { return }
        let scope = Scope(caveats: parsed)
        self.scope = ScopeSummary(
            sprites: Self.sprites(scope), operations: scope.allowedOps.map(\.rawValue),
            expiresAt: scope.expiryDate?.ISO8601Format(), maxSprites: scope.maxSprites)
        expiryText = scope.expires.map { CaveatWording.describe(.expires(unixSeconds: $0), now: now) }
    }

    /// Which sprites a scope reaches, in words.
    static func sprites(_ scope: Scope) -> String {
        guard scope.isSpriteScoped else { return "every sprite" }
        var parts: [String] = scope.nameLists.map { $0.count == 1 ? "named \($0[0])" : "named one of \($0.joined(separator: ", "))" }
        parts += scope.prefixes.map { "whose name starts with \"\($0)\"" }
        parts += scope.labels.sorted().map { "labelled \"\($0)\"" }
        return "only those " + parts.joined(separator: " and ")
    }

    func render() -> String {
        guard !admin else {
            return """
                This is the admin token (hob_…): no organization, id or caveats; it can do everything on the daemon \
                that created it. Only that daemon can check it.
                """
        }
        var block = KeyValueBlock()
        block.add("organization", org)
        block.add("id", id)
        let lines = caveats.map { $0.meaning ?? "invalid caveat \"\($0.text)\": \($0.error ?? "")" }
        block.add("caveats", lines.isEmpty ? "none" : lines.joined(separator: "\n"))
        if let scope {
            var summary = ["sprites: \(scope.sprites)"]
            summary.append("operations: " + (scope.operations.isEmpty ? "none" : scope.operations.joined(separator: ", ")))
            summary.append(expiryText ?? "never expires")
            if let max = scope.maxSprites { summary.append("creates sprites only while fewer than \(max) of its sprites exist") }
            block.add("scope", summary.joined(separator: "\n"))
        } else {
            block.add("scope", "none: the daemon refuses a token with a caveat it cannot read")
        }
        block.add("signature", "not checked here; only the daemon that minted the token can check it")
        return block.render()
    }
}
