"""A real `hob serve` for the compatibility suites (sprites-py, browser, mcp): start, wait, stop, clean up.

Each suite runs its own daemon on a temporary state directory with free ports, as root:

    $HOB_BIN serve --state-dir <tmp> --listen 127.0.0.1:<port> --url-listen 127.0.0.1:<url port> \
        --instance <suite's> --subnet <suite's>

`--instance` (at most 8 lowercase characters) names the daemon's bridge, nftables table and cgroup parent and
`--subnet` its sprite addresses, so each suite needs its own pair to run beside the others and beside a daemon
the machine already runs. The default sprite URL port (7080) would collide too, hence a free one.

A suite's conftest calls `skip_reason()` and then `running(...)` from a session fixture; a daemon that exits or is not
ready in time fails the fixture with its output. The output is kept (`HobDaemon.tail`) so a conftest can attach what
the daemon said during a failing test.
"""

from __future__ import annotations

import collections
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Iterator, List, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HOB_BIN = REPO / ".build" / "debug" / "hob"
STARTUP_TIMEOUT_S = 600.0
SHUTDOWN_TIMEOUT_S = 60.0
LOG_LINES_KEPT = 5000
LOG_LINES_IN_REPORT = 300

# HTTP clients (httpx, websockets, urllib, selenium's driver connection) honour *_PROXY variables; the daemon and
# every driver here are local.
for _var in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_var, "").split(",") if h]
    os.environ[_var] = ",".join(_hosts + ["127.0.0.1", "localhost"])


def hob_bin() -> Path:
    """The daemon binary: `$HOB_BIN`, else `<repo>/.build/debug/hob`."""
    return Path(os.environ.get("HOB_BIN") or DEFAULT_HOB_BIN)


def skip_reason(suite: str = "the Hob compat suite") -> Optional[str]:
    """Why a suite cannot run here (no root, no binary), or None."""
    if os.geteuid() != 0:
        return f"{suite} needs root (the daemon creates namespaces, cgroups and mounts); rerun with sudo"
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
    url_port: int = 0
    token: str = ""
    echo: bool = False
    pump: Optional[threading.Thread] = None
    log: Deque[str] = field(default_factory=lambda: collections.deque(maxlen=LOG_LINES_KEPT))
    lines_seen: int = 0

    def tail(self, since: int = 0, limit: int = LOG_LINES_IN_REPORT) -> str:
        """The daemon's output from line `since` on (as counted by `lines_seen`), at most `limit` lines."""
        lines = list(self.log)
        first_kept = self.lines_seen - len(lines)
        lines = lines[max(0, since - first_kept):]
        return "\n".join(lines[-limit:])


def free_port() -> int:
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


def _stop(daemon: HobDaemon, log_prefix: str) -> None:
    process = daemon.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"{log_prefix} hob serve (pid {process.pid}) ignored SIGTERM for {SHUTDOWN_TIMEOUT_S:.0f} s; killing it")
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


def remove_state_dir(state_dir: Path, log_prefix: str = "[compat]") -> None:
    """Removes a daemon's state directory, never descending into something still mounted there."""
    # A sprite root can bind /dev or /proc: unmount the deepest first, and keep the directory if any remains.
    for point in sorted(_mounts_under(state_dir), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    leftover = _mounts_under(state_dir)
    if leftover:
        print(f"{log_prefix} not removing {state_dir}: still mounted: {', '.join(leftover)}")
        return
    shutil.rmtree(state_dir, ignore_errors=True)


@contextlib.contextmanager
def running(
    instance: str,
    subnet: str,
    *,
    echo: bool = False,
    state_prefix: str = "hob-compat-",
    log_prefix: str = "[compat]",
    extra_args: Sequence[str] = (),
    env: Optional[dict] = None,
) -> Iterator[HobDaemon]:
    """Runs `hob serve` (from `hob_bin()`) on a fresh state directory until the block ends; yields it once ready.

    `echo` prints the daemon's output as it arrives (use it with `pytest -s` only, or it interleaves with pytest's
    own output). On the way out the daemon gets SIGTERM (SIGKILL after 60 s) and its state directory is removed.
    """
    state_dir = Path(tempfile.mkdtemp(prefix=state_prefix))
    port = free_port()
    url_port = free_port()
    while url_port == port:
        url_port = free_port()
    command = [
        str(hob_bin()), "serve",
        "--state-dir", str(state_dir),
        "--listen", f"127.0.0.1:{port}",
        "--url-listen", f"127.0.0.1:{url_port}",
        "--instance", instance,
        "--subnet", subnet,
        *extra_args,
    ]
    print(f"{log_prefix} starting: {' '.join(command)}", flush=True)
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=None if env is None else {**os.environ, **env},
    )
    daemon = HobDaemon(process=process, state_dir=state_dir, base_url=f"http://127.0.0.1:{port}", url_port=url_port, echo=echo)
    daemon.pump = threading.Thread(target=_pump_output, args=(daemon,), name="hob-output", daemon=True)
    daemon.pump.start()
    try:
        _wait_until_ready(daemon)
        print(f"{log_prefix} hob serve ready at {daemon.base_url}", flush=True)
        yield daemon
    finally:
        _stop(daemon, log_prefix)
        daemon.pump.join(timeout=5)
        remove_state_dir(state_dir, log_prefix)
