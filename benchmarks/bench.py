#!/usr/bin/env python3
"""Hob benchmarks: measured, not asserted.

Starts its own `hob serve` on a temporary state directory (the base image cache is shared, so
only the first run on a machine builds it) and measures over the real API:

  create_to_first_output  POST /v1/sprites, then an exec WebSocket until the first stdout byte
  exec_true_roundtrip     a fresh WebSocket running `true` on a running sprite, until its exit frame
  idle_daemon_rss         the daemon's RSS with N running, idle sprites (and their memory in total)
  checkpoint_small        POST …/checkpoint until `complete`, on a running sprite holding 10 MB of
                          synced data, after writing 4 MB since the previous checkpoint
  checkpoint_large        the same with 1 GB of synced data (the ratio large/small shows whether
                          a checkpoint's cost grows with the disk)
  restore_to_first_exec   POST …/checkpoints/vN/restore until an exec of `true` has succeeded
  fork                    POST /v1/sprites with a checkpoint as `source`, until 201
  exec_from_warm          `hob sleep` (warm: frozen), then the exec round trip of `true`; minus
                          the round trip on a running sprite, it is the latency a wake adds
  exec_from_cold          the same after `hob sleep --cold` (stopped): the wake is a boot
  density                 N sprites created one after another (time per create, total), then
                          with all N present (a few running, the rest cold): the daemon's RSS,
                          its CPU use while idle, list latency and an exec round trip

With --exec-paths, only the round trip of `true` on a running sprite, over each way of running it:
a fresh exec WebSocket per command, one kept `/control` connection carrying the commands as ops one
after another (until `op.complete`), and HTTP exec (`POST …/exec`, until the body's `0x03`+code).

With --url, only the sprite URL proxy is measured: requests per second and p50/p99 latency of
small GETs over a few concurrent keep-alive connections, through the proxy
(http://<name>.hob.localhost:<port>/, Bearer token, port 8080 in the sprite) and, for comparison,
straight from the host to the same server at the sprite's address on the bridge.

With --tokens, only what a scoped token costs (docs/ACCESS.md): the verification itself, timed one
call at a time in-process by benchmarks/hob-bench (release build; the admin token and tokens of 1,
4 and 16 caveats; cold: a token's first use, its chain checked; warm: the same token again,
remembered), and the exec WebSocket round trip of `true` with the admin token against a token
scoped to the sprite (alternating batches, so drift hits both alike).

With --running N, only memory: N sprites created and each booted (`true` run in it), then with all
N running and idle, per sprite: what their cgroups are charged (page cache and anonymous memory
apart), how far the host's MemAvailable fell, and how much the daemon's RSS grew.

With --mcp, what the agent and operator front ends cost (docs/MCP.md, docs/OPERATIONS.md): the `exec`
tool running `true` through the PyPI `mcp` client, over `hob mcp` (stdio, one session) and over `/mcp`
(streamable HTTP: a POST per call, which the daemon answers by making the same call to its own API),
beside the bare exec WebSocket round trip on the same sprite; and a `GET /metrics` scrape.

Prints p50/p99 and, when benchmarks/baseline.json exists (write one with --save-baseline),
the change against it. Usage (as root):

  swift build -c release && python3 benchmarks/bench.py [--hob .build/release/hob] [--sprites 20]
  python3 benchmarks/bench.py --url [--url-requests 2000] [--url-clients 4]
  python3 benchmarks/bench.py --exec-paths [--execs 200]
  swift build -c release --product hob-bench && python3 benchmarks/bench.py --tokens [--execs 400]
  python3 benchmarks/bench.py --mcp [--execs 200]     (needs `pip install mcp==2.3.0`)
  python3 benchmarks/bench.py --running 1000
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import websockets

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "benchmarks" / "baseline.json"


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def free_ports(n):
    """n distinct TCP ports nothing listens on (every daemon needs its own API and URL ports)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Daemon:
    def __init__(self, hob, instance, subnet, debug_log=None, extra=()):
        self.dir = Path(tempfile.mkdtemp(prefix="hob-bench-"))
        self.debug_log = debug_log
        self.port, self.url_port = free_ports(2)
        self.log = open(self.dir / "daemon.log", "w")
        self.proc = subprocess.Popen(
            [hob, "serve", "--state-dir", str(self.dir / "state"), "--listen", f"127.0.0.1:{self.port}",
             "--url-listen", f"127.0.0.1:{self.url_port}", "--instance", instance, "--subnet", subnet,
             # Checkpoints are measured back to back: lift the per-sprite rate limit.
             "--checkpoint-burst", "1000000", "--checkpoint-interval", "1s", *extra]
            # The per-step timings of boots and clean-ups are logged at debug level.
            + (["--log-level", "debug"] if debug_log else []),
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 900
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"hob serve exited early; see {self.dir / 'daemon.log'}")
            token_file = self.dir / "state" / "admin-token"
            if token_file.exists():
                self.token = token_file.read_text().strip()
                try:
                    self.request("GET", "/v1/sprites")
                    return
                except OSError:
                    pass
            time.sleep(0.5)
        raise SystemExit("hob serve did not become ready")

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def ws_url(self, name, argv):
        query = [("cmd", a) for a in argv] + [("path", argv[0]), ("stdin", "false")]
        return f"ws://127.0.0.1:{self.port}/v1/sprites/{name}/exec?" + urllib.parse.urlencode(query)

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        if self.debug_log:
            shutil.copyfile(self.dir / "daemon.log", self.debug_log)
        shutil.rmtree(self.dir, ignore_errors=True)


async def exec_until(daemon, name, argv, until_output):
    """Runs argv; returns seconds until the first stdout byte (or the exit frame)."""
    start = time.perf_counter()
    async with websockets.connect(daemon.ws_url(name, argv),
                                  additional_headers={"Authorization": f"Bearer {daemon.token}"}) as ws:
        try:
            await ws.send(b"\x04")
        except websockets.exceptions.ConnectionClosedOK:
            pass  # `true` can finish, and the server close, before our stdin EOF goes out
        async for message in ws:
            if until_output and isinstance(message, bytes) and message[:1] == b"\x01":
                return time.perf_counter() - start
            if isinstance(message, str) and '"exit"' in message:
                return time.perf_counter() - start
    raise RuntimeError("connection closed without output or exit")


async def bench_create(daemon, n, prefix):
    times = []
    for i in range(n):
        name = f"{prefix}{i}"
        start = time.perf_counter()
        daemon.request("POST", "/v1/sprites", {"name": name})
        await exec_until(daemon, name, ["echo", "ready"], until_output=True)
        times.append(time.perf_counter() - start)
    return times


async def bench_exec(daemon, name, n):
    await exec_until(daemon, name, ["true"], until_output=False)  # warm
    return [await exec_until(daemon, name, ["true"], until_output=False) for _ in range(n)]


async def bench_idle(daemon, n, prefix):
    for i in range(n):
        name = f"{prefix}{i}"
        daemon.request("POST", "/v1/sprites", {"name": name})
        await exec_until(daemon, name, ["true"], until_output=False)
    time.sleep(2)
    return daemon.rss_kib()


def stream(daemon, method, path, body=None):
    """Runs an NDJSON-streaming request to its end; fails unless the last line is `complete`."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(daemon.base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {daemon.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    if not lines or lines[-1].get("type") != "complete":
        raise RuntimeError(f"{method} {path} did not complete: {lines}")
    return lines


async def sh(daemon, name, script):
    await exec_until(daemon, name, ["sh", "-c", script], until_output=False)


async def bench_checkpoint(daemon, name, n, synced_mb):
    """Checkpoint latency with `synced_mb` of data on disk and 4 MB written before each one."""
    daemon.request("POST", "/v1/sprites", {"name": name})
    await sh(daemon, name, f"head -c {synced_mb}M /dev/urandom > /root/synced && sync")
    stream(daemon, "POST", f"/v1/sprites/{name}/checkpoint", {})
    times = []
    for i in range(n):
        await sh(daemon, name, f"head -c 4M /dev/urandom > /root/written-{i}")
        start = time.perf_counter()
        stream(daemon, "POST", f"/v1/sprites/{name}/checkpoint", {"comment": f"bench {i}"})
        times.append(time.perf_counter() - start)
    return times


async def bench_restore(daemon, name, n):
    """Restore of v1 on a running sprite, until the next exec has run."""
    daemon.request("POST", "/v1/sprites", {"name": name})
    await sh(daemon, name, "head -c 10M /dev/urandom > /root/data")
    stream(daemon, "POST", f"/v1/sprites/{name}/checkpoint", {})
    times = []
    for _ in range(n):
        await sh(daemon, name, "rm -rf /root/data /usr/share/doc")
        start = time.perf_counter()
        stream(daemon, "POST", f"/v1/sprites/{name}/checkpoints/v1/restore")
        await exec_until(daemon, name, ["true"], until_output=False)
        times.append(time.perf_counter() - start)
    return times


async def bench_wake(daemon, name, n, state):
    """Exec round trips of `true` on a sprite put to sleep (`warm` or `cold`) before each one."""
    daemon.request("POST", "/v1/sprites", {"name": name, "config": {"idle_timeout": 0, "cold_timeout": 0}})
    await exec_until(daemon, name, ["true"], until_output=False)
    times = []
    for _ in range(n):
        daemon.request("POST", f"/v1/sprites/{name}/sleep", {"state": state})
        times.append(await exec_until(daemon, name, ["true"], until_output=False))
    return times


def cpu_seconds(pid):
    """User and system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_density(daemon, n, prefix):
    """Creates n sprites; then measures the daemon with all of them present."""
    creates = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        daemon.request("POST", "/v1/sprites", {"name": f"{prefix}{i}"})
        creates.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    for i in range(min(n, 10)):  # a few running, the rest cold
        await exec_until(daemon, f"{prefix}{i}", ["true"], until_output=False)
    time.sleep(2)
    cpu_before = cpu_seconds(daemon.proc.pid)
    time.sleep(10)
    idle_cpu = cpu_seconds(daemon.proc.pid) - cpu_before
    lists = []
    for _ in range(20):
        t = time.perf_counter()
        daemon.request("GET", "/v1/sprites?max_results=100")
        lists.append(time.perf_counter() - t)
    execs = [await exec_until(daemon, f"{prefix}0", ["true"], until_output=False) for _ in range(20)]
    return {"creates": creates, "total_s": total, "rss_kib": daemon.rss_kib(), "idle_cpu_s_per_10s": idle_cpu,
            "lists": lists, "execs": execs}


async def bench_fork(daemon, source, n, prefix):
    times = []
    for i in range(n):
        start = time.perf_counter()
        daemon.request("POST", "/v1/sprites", {"name": f"{prefix}{i}", "source": {"sprite": source, "checkpoint": "v1"}})
        times.append(time.perf_counter() - start)
    return times


# A small keep-alive HTTP/1.1 server for the URL benchmark: "ok" to every GET. Argument: port.
URL_SERVER = r"""
import http.server, socketserver, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are two writes: no 40 ms wait for a delayed ACK
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup of the address
        self.server_name, self.server_port = "bench", self.server_address[1]
Server(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"""


async def http_client(host, port, host_header, headers, count, latencies):
    """One keep-alive connection sending `count` GETs one after another; appends each latency."""
    reader, writer = await asyncio.open_connection(host, port)
    request = (f"GET / HTTP/1.1\r\nHost: {host_header}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
               + "\r\n").encode()
    try:
        for _ in range(count):
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer from {host}:{port}: {head[:200]!r}")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def measure_http(host, port, host_header, headers, requests, clients):
    """Requests per second and latencies of `requests` GETs spread over `clients` connections."""
    await asyncio.gather(*(http_client(host, port, host_header, headers, 50, []) for _ in range(clients)))  # warm
    latencies = []
    start = time.perf_counter()
    await asyncio.gather(*(http_client(host, port, host_header, headers, requests // clients, latencies) for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - start), latencies


async def bench_url(daemon, name, requests, clients):
    """The same server in a sprite, through the URL proxy and straight over the bridge."""
    daemon.request("POST", "/v1/sprites", {"name": name, "config": {"idle_timeout": 0}})
    script = URL_SERVER.replace("'", "'\"'\"'")
    await sh(daemon, name, f"printf '%s\\n' '{script}' > /root/bench_server.py && "
                           "(setsid nohup python3 /root/bench_server.py 8080 >/dev/null 2>&1 </dev/null &) && "
                           "for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8080/ && exit 0; sleep 0.1; done")
    address = await exec_output(daemon, name, ["sh", "-c", "ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1"])
    url = urllib.parse.urlsplit(daemon.request("GET", f"/v1/sprites/{name}")["url"])
    proxied = await measure_http("127.0.0.1", url.port, url.netloc, {"Authorization": f"Bearer {daemon.token}"}, requests, clients)
    # The host reaches a sprite's address over the bridge: the nftables rules stop new connections
    # routed into sprites from elsewhere, not the host's own.
    direct = await measure_http(address, 8080, f"{address}:8080", {}, requests, clients)
    return {"proxied": proxied, "direct": direct, "address": address, "url": url.geturl()}


async def exec_output(daemon, name, argv):
    """Runs argv; returns its stdout as text."""
    out = b""
    async with websockets.connect(daemon.ws_url(name, argv),
                                  additional_headers={"Authorization": f"Bearer {daemon.token}"}) as ws:
        async for message in ws:
            if isinstance(message, bytes) and message[:1] == b"\x01":
                out += message[1:]
            if isinstance(message, str) and '"exit"' in message:
                break
    return out.decode().strip()


async def bench_control(daemon, name, n):
    """Round trips of `true` as exec ops on one kept /control connection, each until its op.complete."""
    url = daemon.ws_url(name, ["true"]).split("/exec?")[0] + "/control"
    start_op = "control:" + json.dumps({"type": "op.start", "op": "exec", "args": {"cmd": ["true"], "stdin": False}})
    times = []
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {daemon.token}"}) as ws:
        for _ in range(n + 1):  # the first one warms the connection and the sprite
            start = time.perf_counter()
            await ws.send(start_op)
            async for message in ws:
                if isinstance(message, str) and '"op.complete"' in message:
                    if '"exitCode":0' not in message.replace(" ", ""):
                        raise RuntimeError(f"`true` over /control ended {message}")
                    break
                if isinstance(message, str) and '"op.error"' in message:
                    raise RuntimeError(f"/control exec failed: {message}")
            times.append(time.perf_counter() - start)
    return times[1:]


def bench_http_exec(daemon, name, n):
    """Round trips of `true` over HTTP exec, each until the whole body (ending 0x03, exit code) is read."""
    times = []
    for _ in range(n + 1):
        start = time.perf_counter()
        request = urllib.request.Request(f"{daemon.base}/v1/sprites/{name}/exec?cmd=true", method="POST", data=b"",
                                         headers={"Authorization": f"Bearer {daemon.token}"})
        with urllib.request.urlopen(request) as response:
            body = response.read()
        if body[-2:] != b"\x03\x00":
            raise RuntimeError(f"HTTP exec of `true` ended {body[-8:]!r}, not an exit status of 0")
        times.append(time.perf_counter() - start)
    return times[1:]


def print_results(results, baseline, labels=None):
    """One line per measurement in ms: p50, p99, n (and what it is), and the change against the baseline."""
    for key, r in results.items():
        what = f"; {labels[key]}" if labels and key in labels else ""
        line = f"{key:24} p50 {r['p50']:6.2f}  p99 {r['p99']:6.2f}  (n={r['n']}{what})"
        if key in baseline:
            line += f"   baseline p50 {baseline[key]['p50']:.2f} ({(r['p50'] / baseline[key]['p50'] - 1) * 100:+.0f}%)"
        print(line)


def exec_paths_mode(args):
    """--exec-paths: the round trip of `true` over a fresh WebSocket, /control and HTTP exec."""
    daemon = Daemon(args.hob, "hobexec", "10.216.0.0/16")
    try:
        daemon.request("POST", "/v1/sprites", {"name": "be-0"})
        websocket = asyncio.run(bench_exec(daemon, "be-0", args.execs))
        control = asyncio.run(bench_control(daemon, "be-0", args.execs))
        http = bench_http_exec(daemon, "be-0", args.execs)
    finally:
        daemon.stop()
    results = {}
    for key, times in (("exec_true_roundtrip_ms", websocket), ("exec_true_control_ms", control),
                       ("exec_true_http_ms", http)):
        results[key] = {"p50": percentile(times, 50) * 1000, "p99": percentile(times, 99) * 1000, "n": len(times)}
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    labels = {"exec_true_roundtrip_ms": "a fresh exec WebSocket per command",
              "exec_true_control_ms": "one kept /control connection, an exec op per command",
              "exec_true_http_ms": "HTTP exec, POST …/exec, a request per command"}
    print_results(results, baseline, labels)
    if args.save_baseline:
        BASELINE.write_text(json.dumps({**baseline, **results}, indent=2) + "\n")
        print(f"exec path results saved to {BASELINE}")


def tokens_mode(args):
    """--tokens: token verification in-process, and the exec round trip admin vs scoped."""
    bench = Path(args.hob).parent / "hob-bench"
    if not bench.exists():
        raise SystemExit(f"{bench} not found; build with `swift build -c release --product hob-bench`")
    micro = json.loads(subprocess.run([str(bench), "--json"], check=True, capture_output=True, text=True).stdout)
    daemon = Daemon(args.hob, "hobtok", "10.215.0.0/16")
    try:
        daemon.request("POST", "/v1/sprites", {"name": "bt-0"})
        org = daemon.request("GET", "/v1/sprites?max_results=1")["org"]["name"]
        scoped = daemon.request("POST", f"/v1/organizations/{org}/tokens",
                                {"sprites": ["bt-0"], "ops": ["exec", "read"], "expires_in": 3600})["token"]
        admin = daemon.token
        times = {"admin": [], "scoped": []}
        batches = 10
        for _ in range(batches):
            for kind, token in (("admin", admin), ("scoped", scoped)):
                daemon.token = token
                times[kind] += asyncio.run(bench_exec(daemon, "bt-0", max(args.execs // batches, 1)))
        daemon.token = admin
    finally:
        daemon.stop()
    results = {f"token_verify_{name.replace(', ', '_').replace(' ', '_')}_us": {"p50": r["p50_us"], "p99": r["p99_us"], "n": int(r["n"])}
               for name, r in micro.items()}
    for kind in ("admin", "scoped"):
        results[f"exec_true_roundtrip_{kind}_token_ms"] = {
            "p50": percentile(times[kind], 50) * 1000, "p99": percentile(times[kind], 99) * 1000, "n": len(times[kind])}
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, r in results.items():
            unit = "µs" if key.endswith("_us") else "ms"
            line = f"{key:40} p50 {r['p50']:7.2f} {unit}  p99 {r['p99']:7.2f} {unit}  (n={r['n']})"
            if key in baseline:
                line += f"   baseline p50 {baseline[key]['p50']:.2f} ({(r['p50'] / baseline[key]['p50'] - 1) * 100:+.0f}%)"
            print(line)
        a, s_ = results["exec_true_roundtrip_admin_token_ms"], results["exec_true_roundtrip_scoped_token_ms"]
        print(f"{'scoped token adds to exec':40} p50 {(s_['p50'] - a['p50']) * 1000:+.0f} µs, p99 {(s_['p99'] - a['p99']) * 1000:+.0f} µs")
    if args.save_baseline:
        BASELINE.write_text(json.dumps({**baseline, **results}, indent=2) + "\n")
        print(f"token results saved to {BASELINE}")


async def bench_mcp(daemon, hob, name, n, transport):
    """The `exec` tool running `true`, n times, over one MCP session on `transport` (stdio or http)."""
    import httpx2
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client

    times = []

    async def run(read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(n + 1):
                t0 = time.perf_counter()
                result = await session.call_tool("exec", {"sprite": name, "command": "true"})
                elapsed = time.perf_counter() - t0
                assert not result.is_error, result.content
                times.append(elapsed)
        del times[0]  # the first call also lists the tools (the client validates results against them)

    if transport == "stdio":
        params = StdioServerParameters(command=hob, args=["mcp"], env={"HOB_API_URL": daemon.base, "HOB_TOKEN": daemon.token})
        async with stdio_client(params) as (read, write):
            await run(read, write)
    else:
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {daemon.token}"}, timeout=httpx2.Timeout(30, read=300))
        async with streamable_http_client(f"{daemon.base}/mcp", http_client=client) as (read, write):
            await run(read, write)
    return times


def mcp_mode(args):
    """--mcp: the exec tool over stdio and HTTP, the bare exec WebSocket beside them, and a /metrics scrape."""
    daemon = Daemon(args.hob, "hobmcpb", "10.221.0.0/16")
    try:
        daemon.request("POST", "/v1/sprites", {"name": "bm-0"})
        batches = 5
        times = {"exec_true_roundtrip_ms": [], "mcp_exec_stdio_ms": [], "mcp_exec_http_ms": []}
        for _ in range(batches):  # interleaved, so drift hits every path alike
            per = max(args.execs // batches, 1)
            times["exec_true_roundtrip_ms"] += asyncio.run(bench_exec(daemon, "bm-0", per))
            times["mcp_exec_stdio_ms"] += asyncio.run(bench_mcp(daemon, args.hob, "bm-0", per, "stdio"))
            times["mcp_exec_http_ms"] += asyncio.run(bench_mcp(daemon, args.hob, "bm-0", per, "http"))
        scrapes = []
        for _ in range(args.execs):
            req = urllib.request.Request(daemon.base + "/metrics", headers={"Authorization": f"Bearer {daemon.token}"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
            scrapes.append(time.perf_counter() - t0)
        times["metrics_scrape_ms"] = scrapes
    finally:
        daemon.stop()
    results = {key: {"p50": percentile(t, 50) * 1000, "p99": percentile(t, 99) * 1000, "n": len(t)} for key, t in times.items()}
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_results(results, baseline)
    if args.save_baseline:
        saved = {k: v for k, v in results.items() if k != "exec_true_roundtrip_ms"}  # the main run owns that key
        BASELINE.write_text(json.dumps({**baseline, **saved}, indent=2) + "\n")
        print(f"MCP and metrics results saved to {BASELINE}")


def url_mode(args):
    """--url: only the URL proxy, against the direct path."""
    daemon = Daemon(args.hob, "hoburl", "10.217.0.0/16")
    try:
        result = asyncio.run(bench_url(daemon, "bu-0", args.url_requests, args.url_clients))
    finally:
        daemon.stop()
    results = {}
    for key, label in (("proxied", "url_proxy"), ("direct", "url_direct")):
        rps, latencies = result[key]
        results[f"{label}_ms"] = {"p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000,
                                  "n": len(latencies), "requests_per_s": rps}
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{args.url_clients} keep-alive clients, {args.url_requests} GETs each way, the same server in the sprite")
        paths = (("url_proxy_ms", f"through the proxy, {result['url']}"),
                 ("url_direct_ms", f"direct, host to {result['address']}:8080 over the bridge"))
        for key, label in paths:
            r = results[key]
            line = f"{key:16} {r['requests_per_s']:8.0f} req/s  p50 {r['p50']:6.2f}  p99 {r['p99']:6.2f}  ({label})"
            if key in baseline:
                line += f"   baseline p50 {baseline[key]['p50']:.2f} ({(r['p50'] / baseline[key]['p50'] - 1) * 100:+.0f}%)"
            print(line)
        p, d = results["url_proxy_ms"], results["url_direct_ms"]
        print(f"{'proxy adds':16} p50 {p['p50'] - d['p50']:+.2f} ms, p99 {p['p99'] - d['p99']:+.2f} ms; "
              f"throughput {p['requests_per_s'] / d['requests_per_s'] * 100:.0f}% of direct")
    if args.save_baseline:
        BASELINE.write_text(json.dumps({**baseline, **results}, indent=2) + "\n")
        print(f"URL results saved to {BASELINE}")


def sprite_memory_kib(instance):
    """Memory charged to all sprites' cgroups (v1 memory controller, else v2)."""
    for base in (f"/sys/fs/cgroup/memory/{instance}", f"/sys/fs/cgroup/{instance}"):
        for name in ("memory.usage_in_bytes", "memory.current"):
            path = Path(base) / name
            if path.exists():
                return int(path.read_text()) // 1024
    return None


def mem_available_kib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def sprite_memory_breakdown_kib(instance):
    """Page cache and anonymous memory charged to all sprites' cgroups (v1 memory.stat, else v2)."""
    for path, cache_key, anon_key in ((f"/sys/fs/cgroup/memory/{instance}/memory.stat", "total_cache", "total_rss"),
                                      (f"/sys/fs/cgroup/{instance}/memory.stat", "file", "anon")):
        if Path(path).exists():
            stat = dict(line.split() for line in Path(path).read_text().splitlines())
            return int(stat.get(cache_key, 0)) // 1024, int(stat.get(anon_key, 0)) // 1024
    return None, None


async def boot_running(daemon, names, parallel=4):
    """Creates the sprites and runs `true` in each, `parallel` at a time, so each is running."""
    async def one(name):
        await asyncio.to_thread(daemon.request, "POST", "/v1/sprites", {"name": name})
        await exec_until(daemon, name, ["true"], until_output=False)
    for i in range(0, len(names), parallel):
        await asyncio.gather(*(one(n) for n in names[i:i + parallel]))


def running_mode(args):
    """--running N: the memory N running, idle sprites take (they never sleep in this run)."""
    daemon = Daemon(args.hob, "hobrun", "10.217.0.0/16", extra=("--idle-timeout", "never"))
    try:
        time.sleep(2)
        available_before = mem_available_kib()
        rss_before = daemon.rss_kib()
        started = time.perf_counter()
        asyncio.run(boot_running(daemon, [f"r-{i}" for i in range(args.running)]))
        boot_s = time.perf_counter() - started
        time.sleep(5)
        charged = sprite_memory_kib("hobrun")
        cache, anon = sprite_memory_breakdown_kib("hobrun")
        host = available_before - mem_available_kib()
        rss = daemon.rss_kib() - rss_before
        listed = daemon.request("GET", "/v1/sprites?max_results=1")
    finally:
        daemon.stop()
    n = args.running
    results = {"running_idle": {
        "sprites": n, "running_reported": listed["org"]["running"] if listed else None, "boot_all_s": boot_s,
        "per_sprite_kib": {
            "cgroup_charged": charged / n if charged is not None else None,
            "page_cache": cache / n if cache is not None else None,
            "anonymous": anon / n if anon is not None else None,
            "host_mem_available_drop": host / n,
            "daemon_rss_growth": rss / n,
        },
    }}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        r = results["running_idle"]
        per = r["per_sprite_kib"]
        print(f"{n} running idle sprites (running reported: {r['running_reported']}), booted in {r['boot_all_s']:.1f} s")
        for key, value in per.items():
            if value is not None:
                print(f"  per sprite {key:24} {value / 1024:7.2f} MiB")
        print(f"  host: MemAvailable fell by {host / 1024 / 1024:.2f} GiB in all")
    if args.save_baseline:
        baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
        BASELINE.write_text(json.dumps({**baseline, **results}, indent=2) + "\n")
        print(f"running-sprite memory saved to {BASELINE}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hob", default=str(REPO / ".build" / "release" / "hob"))
    parser.add_argument("--sprites", type=int, default=20, help="sprites for create → first output")
    parser.add_argument("--execs", type=int, default=50, help="exec round trips of `true`")
    parser.add_argument("--idle", type=int, default=100, help="idle sprites for the RSS measurement")
    parser.add_argument("--checkpoints", type=int, default=20, help="checkpoints, restores and forks measured")
    parser.add_argument("--wakes", type=int, default=30, help="wakes from warm and from cold measured")
    parser.add_argument("--density", type=int, default=1000, help="sprites for the density run (0: skip)")
    parser.add_argument("--url", action="store_true", help="measure only the sprite URL proxy (against the direct path)")
    parser.add_argument("--url-requests", type=int, default=2000, help="GETs per path in --url mode")
    parser.add_argument("--url-clients", type=int, default=4, help="concurrent keep-alive connections in --url mode")
    parser.add_argument("--exec-paths", action="store_true",
                        help="measure only the exec round trip: fresh WebSocket, /control and HTTP exec")
    parser.add_argument("--tokens", action="store_true",
                        help="measure only token verification and the exec round trip with a scoped token")
    parser.add_argument("--mcp", action="store_true",
                        help="measure only the MCP exec tool (stdio and /mcp) beside the exec WebSocket, and a /metrics scrape")
    parser.add_argument("--running", type=int, default=0,
                        help="measure only the memory of this many running, idle sprites (per sprite: cgroup, cache, host)")
    parser.add_argument("--instance", default="hobbench", help="instance name of the daemon (≤ 8 characters)")
    parser.add_argument("--subnet", default="10.219.0.0/16", help="its sprites' subnet")
    parser.add_argument("--debug-log", help="run the daemon at debug level (boot and clean-up step timings) and keep its log here")
    parser.add_argument("--save-baseline", action="store_true", help=f"write results to {BASELINE}")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("benchmarks need root (hob serve runs as root)")
    if not Path(args.hob).exists():
        raise SystemExit(f"{args.hob} not found; build with `swift build -c release`")
    if args.url:
        return url_mode(args)
    if args.exec_paths:
        return exec_paths_mode(args)
    if args.tokens:
        return tokens_mode(args)
    if args.mcp:
        return mcp_mode(args)
    if args.running:
        return running_mode(args)

    daemon = Daemon(args.hob, args.instance, args.subnet, args.debug_log)
    try:
        rss_empty = daemon.rss_kib()
        create = asyncio.run(bench_create(daemon, args.sprites, "bc-"))
        roundtrip = asyncio.run(bench_exec(daemon, "bc-0", args.execs))
        checkpoint_small = asyncio.run(bench_checkpoint(daemon, "bk-small", args.checkpoints, 10))
        checkpoint_large = asyncio.run(bench_checkpoint(daemon, "bk-large", args.checkpoints, 1024))
        restore = asyncio.run(bench_restore(daemon, "br-0", args.checkpoints))
        fork = asyncio.run(bench_fork(daemon, "br-0", args.checkpoints, "bf-"))
        rss_idle = asyncio.run(bench_idle(daemon, args.idle, "bi-"))
        sprites_mem = sprite_memory_kib(args.instance)
        wake_warm = asyncio.run(bench_wake(daemon, "bw-warm", args.wakes, "warm"))
        wake_cold = asyncio.run(bench_wake(daemon, "bw-cold", args.wakes, "cold"))
    finally:
        daemon.stop()
    density = None
    if args.density > 0:
        # Its own daemon, so the sprites above do not count.
        daemon = Daemon(args.hob, "hobdens", "10.218.0.0/16")
        try:
            density = asyncio.run(bench_density(daemon, args.density, "d-"))
        finally:
            daemon.stop()

    def summary(times):
        return {"p50": percentile(times, 50) * 1000, "p99": percentile(times, 99) * 1000, "n": len(times)}

    results = {
        "create_to_first_output_ms": summary(create),
        "exec_true_roundtrip_ms": summary(roundtrip),
        "checkpoint_10mb_disk_ms": summary(checkpoint_small),
        "checkpoint_1gb_disk_ms": summary(checkpoint_large),
        "checkpoint_1gb_vs_10mb_p50_ratio": percentile(checkpoint_large, 50) / percentile(checkpoint_small, 50),
        "restore_to_first_exec_ms": summary(restore),
        "fork_ms": summary(fork),
        "exec_from_warm_ms": summary(wake_warm),
        "exec_from_cold_ms": summary(wake_cold),
        "wake_from_warm_added_p50_ms": (percentile(wake_warm, 50) - percentile(roundtrip, 50)) * 1000,
        "wake_from_cold_added_p50_ms": (percentile(wake_cold, 50) - percentile(roundtrip, 50)) * 1000,
        "daemon_rss_mib": {"empty": rss_empty / 1024, f"with_{args.idle}_idle_sprites": rss_idle / 1024},
        "sprites_memory_mib": (sprites_mem / 1024) if sprites_mem is not None else None,
    }
    if density:
        results["density"] = {
            "sprites": args.density, "create_ms": summary(density["creates"]), "create_all_s": density["total_s"],
            "daemon_rss_mib": density["rss_kib"] / 1024, "daemon_idle_cpu_s_per_10s": density["idle_cpu_s_per_10s"],
            "list_100_ms": summary(density["lists"]), "exec_true_roundtrip_ms": summary(density["execs"]),
        }
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        timed = ("create_to_first_output_ms", "exec_true_roundtrip_ms", "checkpoint_10mb_disk_ms", "checkpoint_1gb_disk_ms",
                 "restore_to_first_exec_ms", "fork_ms", "exec_from_warm_ms", "exec_from_cold_ms")
        for key in timed:
            r = results[key]
            line = f"{key:28} p50 {r['p50']:8.1f}  p99 {r['p99']:8.1f}  (n={r['n']})"
            if baseline and key in baseline:
                b = baseline[key]
                line += f"   baseline p50 {b['p50']:.1f} ({(r['p50'] / b['p50'] - 1) * 100:+.0f}%)"
            print(line)
        print(f"{'checkpoint 1GB/10MB p50':28} {results['checkpoint_1gb_vs_10mb_p50_ratio']:.2f}")
        print(f"{'wake added to an exec (p50)':28} from warm {results['wake_from_warm_added_p50_ms']:.1f} ms, "
              f"from cold {results['wake_from_cold_added_p50_ms']:.1f} ms")
        rss = results["daemon_rss_mib"]
        print(f"{'daemon_rss_mib':28} empty {rss['empty']:.1f}  with {args.idle} idle sprites {rss[f'with_{args.idle}_idle_sprites']:.1f}")
        if results["sprites_memory_mib"] is not None:
            print(f"{'sprites_memory_mib':28} {results['sprites_memory_mib']:.1f} for {args.idle + args.sprites} running sprites (cgroup total)")
        if density:
            d = results["density"]
            print(f"{'density':28} {d['sprites']} sprites created in {d['create_all_s']:.1f} s "
                  f"(create p50 {d['create_ms']['p50']:.1f} ms, p99 {d['create_ms']['p99']:.1f} ms)")
            print(f"{'':28} daemon RSS {d['daemon_rss_mib']:.1f} MiB, idle CPU {d['daemon_idle_cpu_s_per_10s']:.3f} s per 10 s; "
                  f"list of 100 p50 {d['list_100_ms']['p50']:.1f} ms; exec p50 {d['exec_true_roundtrip_ms']['p50']:.1f} ms")
    if args.save_baseline:
        BASELINE.write_text(json.dumps({**(baseline or {}), **results}, indent=2) + "\n")
        print(f"baseline saved to {BASELINE}")


if __name__ == "__main__":
    sys.exit(main())
