// Which operation every API route is, on which sprite: the one table scope enforcement reads
// (AccessMiddleware for HTTP, ExecRoutes.acceptor for WebSockets). A route missing here is
// `admin` only (fail closed), and RouteAccessTests checks that every route the router serves and
// the OpenAPI document lists is here.
import Foundation
import HTTPTypes
import HobAccess

enum RouteNeed: Sendable, Equatable {
    /// No token needed (the OpenAPI document).
    case open
    /// A call on one sprite.
    case sprite(String, Permission)
    /// `/control` on one sprite: a token that may make any of its ops (exec, proxy: `exec`;
    /// `fs.*`: `files`); each op is checked again when it starts.
    case spriteControl(String)
    /// A call on the daemon (tokens, the audit log, host usage, secrets, metrics).
    case daemon(Permission)
    /// A call about every sprite at once (`/metrics`): a token that allows `op` and is not limited
    /// to some sprites.
    case fleetWide(Permission)
    /// Any valid token, whatever its scope: the route acts with that token through the API itself
    /// (`/mcp`), where each of its calls is checked and audited.
    case anyToken
    /// `GET /v1/sprites`: `read`; the list holds only the token's sprites.
    case spriteList
    /// `POST /v1/sprites`: `create`, for a name and labels in scope (checked by the route, which
    /// reads them from the body).
    case spriteCreate

    var sprite: String? {
        switch self {
        case .sprite(let name, _), .spriteControl(let name): name
        default: nil
        }
    }
}

enum RouteAccess {
    /// The need of a request; nil for a path no route serves. `webSocket`: an upgrade request (a
    /// GET on `exec` is then a command, not the session list).
    static func classify(_ method: HTTPRequest.Method, _ path: String, webSocket: Bool = false) -> RouteNeed? {
        guard let parts = segments(path) else { return nil }
        let reading = method == .get || method == .head
        switch parts.count {
        case 1 where parts[0] == "openapi.json" && reading:
            return .open
        case 1 where parts[0] == "mcp":
            return .anyToken
        case 1 where parts[0] == "metrics" && reading:
            // Counts over every sprite: a token that may read them all (`hob token create --ops read`).
            return .fleetWide(.read)
        case 0 where reading, 1...2 where parts[0] == "ui" && reading:
            // The dashboard's page: it holds no data, and asks for a token to call the API with.
            return .open
        case 2 where parts == ["v1", "sprites"]:
            return reading ? .spriteList : (method == .post ? .spriteCreate : nil)
        case 2 where parts == ["v1", "usage"], 2 where parts == ["v1", "events"]:
            return .daemon(.admin)
        case 2 where parts == ["v1", "secrets"], 3 where parts[0] == "v1" && parts[1] == "secrets":
            // Secrets hold credentials: only a token with no sprite caveat and `admin` manages them.
            return .daemon(.admin)
        case 4 where parts[0] == "v1" && parts[1] == "organizations" && parts[3] == "tokens":
            return .daemon(method == .post ? .tokens : .admin)
        case 5 where parts[0] == "v1" && parts[1] == "organizations" && parts[3] == "tokens":
            return .daemon(.admin)
        case 4 where parts[0] == "v1" && parts[1] == "sprites" && parts[3] == "control":
            return .spriteControl(parts[2])
        case 3... where parts[0] == "v1" && parts[1] == "sprites":
            let rest = Array(parts.dropFirst(3))
            return spriteRoute(method, rest: rest, reading: reading, webSocket: webSocket).map { .sprite(parts[2], $0) }
        default:
            return nil
        }
    }

    /// The operation of a route under `/v1/sprites/{name}`.
    static func spriteRoute(_ method: HTTPRequest.Method, rest: [String], reading: Bool, webSocket: Bool) -> Permission? {
        guard let first = rest.first else {
            return reading ? .read : (method == .put || method == .delete ? .lifecycle : nil)
        }
        switch first {
        case "sleep", "restart", "upgrade":
            return .lifecycle
        case "usage", "check":
            return .read
        case "checkpoints", "checkpoint":
            return reading ? .read : .checkpoints
        case "exec":
            // The session list and version probe read; running (POST, or a WebSocket), attaching
            // to and killing a session are exec.
            return reading && rest.count == 1 && !webSocket ? .read : .exec
        case "fs":
            return .files
        case "services":
            // A service runs a command: defining, starting or signalling one is exec.
            return reading ? .read : .exec
        case "policy":
            // Privileges widen what the sprite's processes may ask of the kernel: admin only.
            if reading { return .read }
            return rest.count > 1 && rest[1] == "privileges" ? .admin : .lifecycle
        case "proxy":
            return .exec
        case "ports":
            return .read
        case "url":
            // A sign-in link for the sprite's URL: what opening the URL needs.
            return .url
        default:
            return nil
        }
    }

    /// The path's segments, percent-decoded (a name spelled with escapes is checked as the name it
    /// decodes to); nil when an escape is invalid.
    static func segments(_ path: String) -> [String]? {
        var out: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = raw.contains("%") ? raw.removingPercentEncoding : String(raw) else { return nil }
            out.append(decoded)
        }
        return out
    }
}
