import HobSpriteEnv
import Testing

@Suite("sprite-env commands")
struct CommandTests {
    func parse(_ line: String) throws -> SpriteEnvCommand {
        try SpriteEnvCommand.parse(line.split(separator: " ").map(String.init))
    }

    @Test("checkpoint subcommands and their options")
    func checkpoints() throws {
        #expect(try parse("checkpoints list") == .checkpointsList(includeAuto: false, json: false))
        #expect(try parse("checkpoints ls --json --include-auto") == .checkpointsList(includeAuto: true, json: true))
        #expect(try parse("checkpoints create") == .checkpointsCreate(comment: nil))
        #expect(try SpriteEnvCommand.parse(["checkpoints", "create", "--comment", "before the upgrade"]) == .checkpointsCreate(comment: "before the upgrade"))
        #expect(try parse("checkpoints create --comment=x") == .checkpointsCreate(comment: "x"))
        #expect(try parse("checkpoints info v3 --json") == .checkpointsInfo(id: "v3", json: true))
        #expect(try parse("checkpoints restore v1") == .checkpointsRestore(id: "v1"))
        #expect(try parse("checkpoints delete v2") == .checkpointsDelete(id: "v2"))
        #expect(try parse("checkpoint rm auto-1") == .checkpointsDelete(id: "auto-1"))
    }

    @Test("service subcommands: create takes --cmd/--args as Sprites' CLI does, or the words after --")
    func services() throws {
        #expect(try parse("services list") == .servicesList(json: false))
        #expect(try parse("service ls --json") == .servicesList(json: true))
        #expect(try parse("services get web") == .servicesGet(name: "web", json: false))
        #expect(
            try SpriteEnvCommand.parse(["services", "create", "web", "--cmd", "python3", "--args", "-m,http.server,8080", "--http-port", "8080", "--env", "A=1,B=x=y", "--needs", "db,cache", "--dir", "/srv", "--duration", "5s"])
                == .servicesCreate(
                    name: "web",
                    definition: ServiceDefinition(cmd: "python3", args: ["-m", "http.server", "8080"], env: ["A": "1", "B": "x=y"], dir: "/srv", needs: ["db", "cache"], httpPort: 8080),
                    duration: "5s", stream: true))
        #expect(
            try parse("services create w --no-stream -- sleep 10")
                == .servicesCreate(name: "w", definition: ServiceDefinition(cmd: "sleep", args: ["10"]), duration: nil, stream: false))
        #expect(try parse("services stop web --timeout 3s") == .servicesStop(name: "web", timeout: "3s"))
        #expect(try parse("services start web") == .servicesStart(name: "web", duration: nil))
        #expect(try parse("services restart web") == .servicesRestart(name: "web"))
        #expect(try parse("services rm web") == .servicesDelete(name: "web"))
        #expect(try parse("services signal web HUP") == .servicesSignal(name: "web", signal: "HUP"))
        for bad in ["services", "services create web", "services create web --http-port 0 --cmd x", "services signal web", "services start", "services bogus x", "services create web --env novalue --cmd x"] {
            #expect(throws: UsageError.self, "\(bad)") { try parse(bad) }
        }
    }

    @Test("task subcommands and their options")
    func tasks() throws {
        #expect(try parse("tasks list") == .tasksList(json: false))
        #expect(try parse("task ls --json") == .tasksList(json: true))
        #expect(try parse("tasks get build") == .tasksGet(name: "build", json: false))
        #expect(try parse("tasks info build --json") == .tasksGet(name: "build", json: true))
        #expect(try parse("tasks create build") == .tasksCreate(name: "build", expire: nil, json: false))
        #expect(try parse("tasks create build --expire 30m") == .tasksCreate(name: "build", expire: "30m", json: false))
        #expect(try parse("tasks create --expire=600 --json build") == .tasksCreate(name: "build", expire: "600", json: true))
        #expect(try parse("tasks renew build --expire 5m") == .tasksRenew(name: "build", expire: "5m", json: false))
        #expect(try parse("tasks renew build") == .tasksRenew(name: "build", expire: nil, json: false))
        #expect(try parse("tasks delete build") == .tasksDelete(name: "build"))
        #expect(try parse("tasks rm build") == .tasksDelete(name: "build"))
    }

    @Test("a task name is taken as given; `--` lets it start with a dash")
    func taskNames() throws {
        #expect(try SpriteEnvCommand.parse(["tasks", "get", "db:migrate ü"]) == .tasksGet(name: "db:migrate ü", json: false))
        #expect(try parse("tasks delete -- -x") == .tasksDelete(name: "-x"))
    }

    @Test("curl takes a method, a body and one path")
    func curl() throws {
        #expect(try parse("curl /v1/checkpoints") == .curl(method: "GET", body: nil, path: "/v1/checkpoints"))
        #expect(try parse("curl v1/checkpoints") == .curl(method: "GET", body: nil, path: "/v1/checkpoints"))
        #expect(try parse("curl http://sprite/v1/x") == .curl(method: "GET", body: nil, path: "/v1/x"))
        #expect(try parse("curl -X delete /v1/checkpoints/v1") == .curl(method: "DELETE", body: nil, path: "/v1/checkpoints/v1"))
        #expect(try parse("curl -XPUT -d {} /v1/x") == .curl(method: "PUT", body: "{}", path: "/v1/x"))
        #expect(try parse("curl --data {} /v1/x") == .curl(method: "POST", body: "{}", path: "/v1/x"))
        // An option's value is never read as an option.
        #expect(try parse("curl -d -Xfoo /v1/x") == .curl(method: "POST", body: "-Xfoo", path: "/v1/x"))
    }

    @Test("help is available at every level")
    func help() throws {
        #expect(try parse("--help") == .help(.main))
        #expect(try parse("help") == .help(.main))
        #expect(try parse("help checkpoints") == .help(.checkpoints))
        #expect(try parse("checkpoints --help") == .help(.checkpoints))
        #expect(try parse("checkpoints create -h") == .help(.checkpoints))
        #expect(try parse("curl --help") == .help(.curl))
        #expect(try parse("help tasks") == .help(.tasks))
        #expect(try parse("tasks help") == .help(.tasks))
        #expect(try parse("tasks renew build -h") == .help(.tasks))
    }

    @Test(
        "mistakes are usage errors",
        arguments: [
            "", "frobnicate list", "checkpoints", "checkpoints frob", "checkpoints list --all", "checkpoints list extra",
            "checkpoints create --comment", "checkpoints info", "checkpoints info v1 v2", "checkpoints restore ../v1",
            "checkpoints delete v1?x", "checkpoints list --json=yes", "tasks", "tasks frob", "tasks list extra",
            "tasks get", "tasks get a b", "tasks create", "tasks create a --expire", "tasks create a --expire=",
            "tasks renew a --ttl 5m", "tasks delete --json a", "curl", "curl /a /b", "curl -X P0ST /v1/x", "curl -v /v1/x",
        ])
    func usageErrors(_ line: String) {
        #expect(throws: UsageError.self) { try parse(line) }
    }

    @Test("a path with a space cannot smuggle a second request line")
    func pathInjection() {
        #expect(throws: UsageError.self) { try SpriteEnvCommand.parse(["curl", "/v1/x HTTP/1.1\r\nHost: evil"]) }
    }

    @Test("usage errors show the help of the command they concern")
    func usageTopic() {
        #expect(throws: UsageError("checkpoints needs a subcommand", topic: .checkpoints)) { try parse("checkpoints") }
        #expect(throws: UsageError("curl needs a path", topic: .curl)) { try parse("curl") }
        #expect(throws: UsageError("get needs a task name", topic: .tasks)) { try parse("tasks get") }
    }

    @Test("task names are percent-encoded as one path segment")
    func pathSegment() {
        #expect(percentEncodedPathSegment("build-1.x_y~z") == "build-1.x_y~z")
        #expect(percentEncodedPathSegment("a/b?c#d") == "a%2Fb%3Fc%23d")
        #expect(percentEncodedPathSegment("50% ü") == "50%25%20%C3%BC")
    }
}
