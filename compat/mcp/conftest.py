"""Fixtures for the MCP suite: a real Hob daemon, and the real Python `mcp` client talking to its tools.

The daemon (compat/hob_daemon.py) runs with `--instance hobmcp --subnet 10.218.0.0/16` on a temporary state directory
and free ports. The tools are reached two ways, as an agent would:

- **stdio**: `$HOB_BIN mcp` as a child process, told where the daemon is and which token to act as by `HOB_API_URL`
  and `HOB_TOKEN` (the Python client passes its child only HOME, PATH and a few more, so they go in `env=`);
- **HTTP**: `POST <base>/mcp` with `Authorization: Bearer <token>`, through `streamable_http_client`.

`HOB_BIN` selects the binary (default `<repo>/.build/debug/hob`); `HOB_MCP_URL` + `HOB_MCP_TOKEN` (an admin token)
point the suite at a daemon already running instead. Without root, the binary or `mcp` 2.x, every test is skipped
with the reason. The daemon's output is kept and attached to every failing test (`pytest -s` echoes it live), and so
is what `hob mcp` wrote on stderr. Background: docs/notes/mcp-swift-sdk.md (§4 is the Python client).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hob_daemon  # noqa: E402  (compat/hob_daemon.py: the daemon machinery the compat suites share)

INSTANCE = "hobmcp"  # also the daemon's organization, in token paths
SUBNET = "10.218.0.0/16"
SPRITE_PREFIX = "mcp-"
TRANSPORTS = ("stdio", "http")


def skip_reason() -> Optional[str]:
    reason = hob_daemon.skip_reason("the MCP suite")
    if reason:
        return reason
    try:
        import httpx2  # noqa: F401
        import mcp
        from mcp.client.streamable_http import streamable_http_client  # noqa: F401  (2.x; 1.x had streamablehttp_client)
    except ImportError as error:
        return f"the Python MCP client is missing ({error}): pip install -r compat/mcp/requirements.txt"
    if not hasattr(mcp, "Client"):
        return "the Python MCP client is too old (mcp.Client is 2.x): pip install -r compat/mcp/requirements.txt"
    return None


@dataclass
class Daemon:
    base_url: str
    token: str  # the admin token
    org: str = INSTANCE

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"


_DAEMON: Optional[hob_daemon.HobDaemon] = None


@pytest.fixture(scope="session")
def hob(pytestconfig) -> Iterator[Daemon]:
    """The daemon for the whole run."""
    global _DAEMON
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if os.environ.get("HOB_MCP_URL"):
        yield Daemon(os.environ["HOB_MCP_URL"].rstrip("/"), os.environ["HOB_MCP_TOKEN"], os.environ.get("HOB_MCP_ORG", INSTANCE))
        return
    echo = pytestconfig.getoption("capture") == "no"
    with hob_daemon.running(INSTANCE, SUBNET, echo=echo, state_prefix="hob-mcp-", log_prefix="[mcp]") as running:
        _DAEMON = running
        try:
            yield Daemon(running.base_url, running.token)
        finally:
            _DAEMON = None


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- the daemon's API, for setting up and checking (never the thing under test) ---------------------------------


def api(hob: Daemon, method: str, path: str, body: Any = None, token: Optional[str] = None) -> Tuple[int, Any]:
    """One API call without any proxy; returns (status, decoded JSON body or the text)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token or hob.token}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(f"{hob.base_url}{path}", data=data, method=method, headers=headers)
    try:
        with opener.open(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def unique_name(prefix: str = SPRITE_PREFIX) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def destroy(hob: Daemon, name: str) -> None:
    status, body = api(hob, "DELETE", f"/v1/sprites/{name}")
    assert status in (200, 204, 404), f"DELETE /v1/sprites/{name}: {status} {body}"


@pytest.fixture
def new_name(hob) -> Iterator:
    """Names for sprites a test creates itself (through a tool); each is destroyed after the test."""
    names: List[str] = []

    def make(prefix: str = SPRITE_PREFIX) -> str:
        name = unique_name(prefix)
        names.append(name)
        return name

    yield make
    for name in names:
        destroy(hob, name)


@pytest.fixture
def sprite(hob, new_name) -> str:
    """A sprite made through the API (not a tool), destroyed after the test."""
    name = new_name()
    status, body = api(hob, "POST", "/v1/sprites", {"name": name})
    assert status == 201, f"POST /v1/sprites: {status} {body}"
    return name


def mint_token(hob: Daemon, **caveats: Any) -> Tuple[str, str]:
    """A scoped token minted by the admin token: (token, its id). Caveats as in POST /v1/organizations/{org}/tokens."""
    status, body = api(hob, "POST", f"/v1/organizations/{hob.org}/tokens", {"description": "compat/mcp", **caveats})
    assert status == 201, f"minting a token: {status} {body}"
    return body["token"], body["info"]["id"]


def mint_token_with_cli(hob: Daemon, *options: str) -> str:
    """A scoped token minted by `hob token create OPTIONS` with the admin token, as a user would."""
    done = subprocess.run(
        [str(hob_daemon.hob_bin()), "token", "create", *options], capture_output=True, text=True, timeout=60,
        env={**os.environ, "HOB_API_URL": hob.base_url, "HOB_TOKEN": hob.token})
    assert done.returncode == 0, f"hob token create {' '.join(options)}: {done.returncode}\n{done.stderr}"
    return done.stdout.strip()


# --- MCP sessions ---------------------------------------------------------------------------------------------------


def stdio_parameters(hob: Daemon, token: Optional[str] = None):
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=str(hob_daemon.hob_bin()), args=["mcp"],
        env={"HOB_API_URL": hob.base_url, "HOB_TOKEN": token or hob.token})


def http_client(token: Optional[str]):
    """The httpx2 client the streamable HTTP transport uses: the Bearer token, and the SDK's own timeouts."""
    import httpx2

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300), trust_env=False)


_STDERR_FILES: List[Path] = []


@contextlib.asynccontextmanager
async def transport(hob: Daemon, kind: str, token: Optional[str] = None) -> AsyncIterator:
    """The (read, write) streams of one MCP connection: `hob mcp` over stdio, or POST /mcp over HTTP."""
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client

    if kind == "stdio":
        # What `hob mcp` says on stderr is kept for the report of a failing test.
        with tempfile.NamedTemporaryFile("w+", prefix="hob-mcp-stderr-", suffix=".log", delete=False) as errlog:
            _STDERR_FILES.append(Path(errlog.name))
            async with stdio_client(stdio_parameters(hob, token), errlog=errlog) as streams:
                yield streams
    elif kind == "http":
        async with http_client(token or hob.token) as client:
            async with streamable_http_client(hob.mcp_url, http_client=client) as streams:
                yield streams
    else:
        raise ValueError(f"unknown transport {kind}")


@contextlib.asynccontextmanager
async def session(hob: Daemon, kind: str, token: Optional[str] = None) -> AsyncIterator:
    """An initialized `ClientSession` (the initialize handshake, no discover probe)."""
    from mcp import ClientSession

    async with transport(hob, kind, token) as (read, write):
        async with ClientSession(read, write) as client_session:
            await client_session.initialize()
            yield client_session


# --- reports --------------------------------------------------------------------------------------------------------


def pytest_report_header(config) -> List[str]:
    try:
        from importlib.metadata import version

        client = f"mcp {version('mcp')}"
    except Exception:  # noqa: BLE001
        client = "mcp not installed (pip install -r compat/mcp/requirements.txt)"
    return [f"hob mcp: HOB_BIN={hob_daemon.hob_bin()}, {client}"]


_log_start_key = pytest.StashKey[int]()


def pytest_runtest_setup(item):
    item.stash[_log_start_key] = _DAEMON.lines_seen if _DAEMON is not None else 0
    _STDERR_FILES.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        daemon = _DAEMON
        if daemon is not None:
            since = item.stash.get(_log_start_key, 0)
            report.sections.append(("hob daemon output during this test", daemon.tail(since=since) or "(none)"))
        for path in _STDERR_FILES:
            text = path.read_text(errors="replace") if path.exists() else ""
            report.sections.append((f"hob mcp stderr ({path.name})", text or "(empty)"))
    if report.when == "teardown":
        for path in _STDERR_FILES:
            path.unlink(missing_ok=True)
