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

import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hob_daemon  # noqa: E402  (compat/hob_daemon.py: the daemon machinery the compat suites share)
from hob_daemon import HobDaemon, hob_bin  # noqa: E402,F401  (hob_bin: kept importable from here)

SPRITE_PREFIX = "compat-"


def skip_reason() -> Optional[str]:
    return hob_daemon.skip_reason()


_DAEMON: Optional[HobDaemon] = None


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
    echo = pytestconfig.getoption("capture") == "no"
    with hob_daemon.running("hobpy", "10.213.0.0/16", echo=echo) as daemon:
        _DAEMON = daemon
        try:
            yield daemon.base_url, daemon.token
        finally:
            _DAEMON = None


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
