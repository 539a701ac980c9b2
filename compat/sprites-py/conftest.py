"""Fixtures that run a real Hob daemon for the sprites-py compatibility suite.

The daemon is started once per session as root:

    $HOB_BIN serve --state-dir <tmp> --listen 127.0.0.1:<port> --url-listen 127.0.0.1:<url port> \
        --instance hobpy --subnet 10.213.0.0/16

Each port is a free one: the default sprite URL port (7080) would collide with other daemons on the machine.

`HOB_BIN` defaults to `<repo>/.build/debug/hob`. With `HOB_COMPAT_CONTROL=1` every client is made with
`control_mode=True`: commands then run over pooled `/control` connections, and each test also checks that they
really did (sprites-py silently falls back to one WebSocket per command when `/control` is refused). Without root or without that binary, every test here is
collected and then skipped, with the reason shown. With `pytest -s` the daemon's output is echoed as it arrives (the
first start may build a Debian base image); it is always kept and attached to every failing test's report.
Protocol background: docs/notes/sprites-py-0.7.2.md.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Iterator, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_HOB_BIN = REPO / ".build" / "debug" / "hob"
STARTUP_TIMEOUT_S = 600.0
SHUTDOWN_TIMEOUT_S = 60.0
LOG_LINES_KEPT = 5000
LOG_LINES_IN_REPORT = 300
SPRITE_PREFIX = "compat-"

# Both httpx and websockets honour *_PROXY variables; the daemon is always local.
for _var in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_var, "").split(",") if h]
    os.environ[_var] = ",".join(_hosts + ["127.0.0.1", "localhost"])


def hob_bin() -> Path:
    return Path(os.environ.get("HOB_BIN") or DEFAULT_HOB_BIN)


def skip_reason() -> Optional[str]:
    if os.geteuid() != 0:
        return "the Hob compat suite needs root (the daemon creates namespaces, cgroups and mounts); rerun with sudo"
    binary = hob_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return f"Hob daemon binary not found at {binary} (build it with `swift build` or set HOB_BIN)"
    return None


@dataclass
class HobDaemon:
    """A running `hob serve` process and everything it printed."""

    process: subprocess.Popen
    state_dir: Path
    base_url: str
    token: str = ""
    echo: bool = False
    pump: Optional[threading.Thread] = None
    log: Deque[str] = field(default_factory=lambda: collections.deque(maxlen=LOG_LINES_KEPT))
    lines_seen: int = 0

    def tail(self, since: int = 0, limit: int = LOG_LINES_IN_REPORT) -> str:
        lines = list(self.log)
        first_kept = self.lines_seen - len(lines)
        lines = lines[max(0, since - first_kept):]
        return "\n".join(lines[-limit:])


_DAEMON: Optional[HobDaemon] = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pump_output(daemon: HobDaemon) -> None:
    assert daemon.process.stdout is not None
    for raw in iter(daemon.process.stdout.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        daemon.log.append(line)
        daemon.lines_seen += 1
        if daemon.echo:
            print(f"[hob] {line}", flush=True)


def _list_status(base_url: str, token: str) -> int:
    """GET /v1/sprites without any proxy; returns the HTTP status, or 0 if nothing answered."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{base_url}/v1/sprites", headers={"Authorization": f"Bearer {token}"})
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _wait_until_ready(daemon: HobDaemon) -> None:
    token_file = daemon.state_dir / "admin-token"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_status = 0
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            if daemon.pump is not None:
                daemon.pump.join(timeout=5)  # collect its last words
            pytest.fail(
                f"hob serve exited with status {daemon.process.returncode} before it was ready\n"
                f"--- daemon output ---\n{daemon.tail()}",
                pytrace=False,
            )
        token = token_file.read_text().strip() if token_file.is_file() else ""
        if token:
            last_status = _list_status(daemon.base_url, token)
            if last_status == 200:
                daemon.token = token
                return
        time.sleep(0.5)
    pytest.fail(
        f"hob serve was not ready after {STARTUP_TIMEOUT_S:.0f} s "
        f"(admin-token present: {token_file.is_file()}, last GET /v1/sprites status: {last_status or 'no answer'})\n"
        f"--- daemon output ---\n{daemon.tail()}",
        pytrace=False,
    )


def _stop(daemon: HobDaemon) -> None:
    process = daemon.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"[compat] hob serve (pid {process.pid}) ignored SIGTERM for {SHUTDOWN_TIMEOUT_S:.0f} s; killing it")
            process.kill()
            process.wait(timeout=30)


def _mounts_under(path: Path) -> List[str]:
    prefix = str(path.resolve())
    mounts = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
    return mounts


def _remove_state_dir(state_dir: Path) -> None:
    # Never let rmtree descend into something still mounted there (a sprite root can bind /dev or /proc).
    for point in sorted(_mounts_under(state_dir), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    leftover = _mounts_under(state_dir)
    if leftover:
        print(f"[compat] not removing {state_dir}: still mounted: {', '.join(leftover)}")
        return
    shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def hob(pytestconfig) -> Iterator[Tuple[str, str]]:
    """Starts `hob serve` for the whole session; yields (base_url, admin token).

    Daemon output is echoed live only with `pytest -s` (otherwise it would interleave with pytest's own output);
    it is always kept and attached to failing tests.
    """
    global _DAEMON
    reason = skip_reason()
    if reason:
        pytest.skip(reason)

    state_dir = Path(tempfile.mkdtemp(prefix="hob-compat-"))
    port = _free_port()
    url_port = _free_port()
    while url_port == port:
        url_port = _free_port()
    command = [
        str(hob_bin()), "serve",
        "--state-dir", str(state_dir),
        "--listen", f"127.0.0.1:{port}",
        "--url-listen", f"127.0.0.1:{url_port}",
        "--instance", "hobpy",
        "--subnet", "10.213.0.0/16",
    ]
    print(f"[compat] starting: {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    daemon = HobDaemon(
        process=process,
        state_dir=state_dir,
        base_url=f"http://127.0.0.1:{port}",
        echo=pytestconfig.getoption("capture") == "no",
    )
    daemon.pump = threading.Thread(target=_pump_output, args=(daemon,), name="hob-output", daemon=True)
    daemon.pump.start()
    _DAEMON = daemon
    try:
        _wait_until_ready(daemon)
        print(f"[compat] hob serve ready at {daemon.base_url}", flush=True)
        yield daemon.base_url, daemon.token
    finally:
        _stop(daemon)
        daemon.pump.join(timeout=5)
        _DAEMON = None
        _remove_state_dir(state_dir)


def control_mode() -> bool:
    """Whether clients run commands over `/control` (HOB_COMPAT_CONTROL=1)."""
    return os.environ.get("HOB_COMPAT_CONTROL", "") not in ("", "0", "false")


def make_client(token: str, base_url: str):
    """A sprites-py client in this run's mode; use it as a context manager."""
    from sprites import SpritesClient

    return SpritesClient(token, base_url=base_url, control_mode=control_mode())


@pytest.fixture
def client(hob):
    """A sprites-py client that talks to the daemon with the admin token."""
    base_url, token = hob
    with make_client(token, base_url) as sprites_client:
        yield sprites_client


@dataclass
class ControlUse:
    """What the `/control` connections of one test did."""

    connected: int = 0
    refused: List[Tuple[int, str]] = field(default_factory=list)
    direct_commands: int = 0


@pytest.fixture(autouse=True)
def control_is_used(monkeypatch) -> Iterator[Optional[ControlUse]]:
    """In control mode, fails a test whose commands fell back to a WebSocket per command.

    sprites-py falls back after any refused `/control` upgrade. Only refusals that the command would get anyway are
    accepted: 401 (a bad token) and a 404 for a sprite that does not exist, not for a missing endpoint.
    """
    if not control_mode():
        yield None
        return
    import sprites.control
    import sprites.websocket
    from websockets.exceptions import InvalidStatus

    use = ControlUse()
    connect = sprites.control.ControlConnection.connect
    direct = sprites.websocket._run_ws_command_direct

    async def counting_connect(self):
        try:
            await connect(self)
        except InvalidStatus as refusal:
            response = refusal.response
            use.refused.append((response.status_code, bytes(response.body or b"").decode("utf-8", "replace")))
            raise
        use.connected += 1

    async def counting_direct(cmd):
        if cmd.session_id is None:
            use.direct_commands += 1
        return await direct(cmd)

    monkeypatch.setattr(sprites.control.ControlConnection, "connect", counting_connect)
    monkeypatch.setattr(sprites.websocket, "_run_ws_command_direct", counting_direct)
    yield use
    for status, body in use.refused:
        assert status == 401 or (status == 404 and "no WebSocket endpoint" not in body), (
            f"/control was refused with {status}: {body}"
        )
    assert use.direct_commands <= len(use.refused), (
        f"{use.direct_commands} command(s) ran over their own WebSocket instead of /control"
    )


@pytest.fixture
def sprite_name(client) -> Iterator[str]:
    """A fresh, valid, unused sprite name; whatever sprite ends up with it is destroyed afterwards."""
    from sprites import NotFoundError

    name = unique_name()
    yield name
    try:
        client.destroy_sprite(name)
    except NotFoundError:
        pass


@pytest.fixture
def sprite(client, sprite_name):
    """A newly created sprite, destroyed after the test."""
    return client.create_sprite(sprite_name)


def unique_name(prefix: str = SPRITE_PREFIX) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def pytest_report_header(config) -> List[str]:
    try:
        import sprites

        version = sprites.__version__
    except ImportError:
        version = "not installed (pip install -r compat/sprites-py/requirements.txt)"
    mode = "control_mode=True (commands over /control)" if control_mode() else "one WebSocket per command"
    return [f"hob compat: HOB_BIN={hob_bin()}, sprites-py {version}, {mode}"]


_log_start_key = pytest.StashKey[int]()


def pytest_runtest_setup(item):
    item.stash[_log_start_key] = _DAEMON.lines_seen if _DAEMON is not None else 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    daemon = _DAEMON
    if daemon is not None and report.failed:
        since = item.stash.get(_log_start_key, 0)
        report.sections.append(("hob daemon output during this test", daemon.tail(since=since) or "(none)"))
