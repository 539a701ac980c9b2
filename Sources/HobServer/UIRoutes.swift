// The dashboard: a single page (Resources/ui) served on the API listener at /ui/, with `/`
// redirecting there. The files are compiled into the binary (`.embedInCode`), so an installed
// `hob` needs nothing beside it and no build step fetches anything.
//
// The files are public: they hold no data. The page asks for a token and calls the API with it
// like any client, so it can do exactly what its token may (docs/DASHBOARD.md).
//
// `HOB_UI_DIR`, set when the daemon starts, serves the files from that directory instead, read on
// every request: for working on the page without rebuilding the daemon.
import Foundation
import HTTPTypes
import HobCore
import Hummingbird
import NIOCore

struct UIRoutes {
    /// Files from this directory instead of the embedded ones (nil: embedded).
    var directory: String? = ProcessInfo.processInfo.environment["HOB_UI_DIR"].flatMap { $0.isEmpty ? nil : $0 }

    /// The page's files by name, as compiled in.
    static var embedded: [String: [UInt8]] {
        [
            "index.html": PackageResources.index_html,
            "app.js": PackageResources.app_js,
            "app.css": PackageResources.app_css,
            "xterm.js": PackageResources.xterm_js,
            "xterm.css": PackageResources.xterm_css,
            "fit.js": PackageResources.fit_js,
            "XTERM-LICENSE.txt": PackageResources.XTERM_LICENSE_txt,
        ]
    }

    static func contentType(_ file: String) -> String {
        switch file.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        default: "text/plain; charset=utf-8"
        }
    }

    /// What a browser may do with the page: scripts and connections to this origin only, no framing
    /// (the page holds a token), no referrer leaving it. xterm.js sets inline styles.
    static let headers: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/") { _, _ in Response(status: .found, headers: [.location: "/ui/"]) }
        // `/ui` and `/ui/` are one route to the router; the page names its files absolutely (/ui/app.js).
        router.get("/ui") { _, _ in try file("index.html") }
        router.get("/ui/:file") { _, context in try file(context.parameters.require("file")) }
    }

    func file(_ name: String) throws -> Response {
        guard let bytes = try contents(name) else { throw HobError(.notFound, "no dashboard file \(name)") }
        var headers = Self.headers
        headers[.contentType] = Self.contentType(name)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The bytes of one of the page's files; nil for a name that is not one of them. Only the
    /// embedded names are served from `directory` too, so no path can leave it.
    func contents(_ name: String) throws -> [UInt8]? {
        guard let embedded = Self.embedded[name] else { return nil }
        guard let directory else { return embedded }
        guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)") else {
            throw HobError(.notFound, "no dashboard file \(name) in HOB_UI_DIR \(directory)")
        }
        return Array(data)
    }
}
