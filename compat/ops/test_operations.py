"""What an operator watches: `/metrics` in Prometheus' format, parsed by the reference parser, whose counters move
with what sprites do; and `--log-format json`, one JSON object per line naming the sprite and the request."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Dict, Optional, Tuple

from prometheus_client.parser import text_string_to_metric_families

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(daemon, method: str, path: str, body: Optional[dict] = None, token: Optional[str] = None) -> Tuple[int, Dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token != "":
        headers["Authorization"] = f"Bearer {token or daemon.token}"
    request = urllib.request.Request(daemon.base_url + path, data=data, method=method, headers=headers)
    try:
        with OPENER.open(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def scrape(daemon, token: Optional[str] = None) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, labels), through prometheus_client's text parser."""
    status, headers, body = call(daemon, "GET", "/metrics", token=token)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def mint(daemon, **caveats) -> str:
    status, _, body = call(daemon, "POST", "/v1/organizations/hobops/tokens", {"description": "ops test", **caveats})
    assert status == 201, body
    return json.loads(body)["token"]


def test_metrics_parse_and_counters_move_with_creates_execs_checkpoints_and_wakes(daemon):
    before = scrape(daemon)
    for name in ("hob_sprites_created_total", "hob_execs_total", "hob_process_open_fds", "hob_process_resident_memory_bytes"):
        assert any(key[0] == name for key in before), f"{name} missing from /metrics"
    assert value(before, "hob_pool_bytes", kind="size") > 0
    name = f"ops-{uuid.uuid4().hex[:8]}"
    status, _, body = call(daemon, "POST", "/v1/sprites", {"name": name})
    assert status in (200, 201), body
    status, _, body = call(daemon, "POST", f"/v1/sprites/{name}/exec?cmd=true")
    assert status == 200 and body[-2:] == b"\x03\x00", body
    status, _, body = call(daemon, "POST", f"/v1/sprites/{name}/checkpoint", {"comment": "ops"})
    assert status == 200 and b'"complete"' in body, body
    status, _, body = call(daemon, "POST", f"/v1/sprites/{name}/sleep", {"state": "warm"})
    assert status == 200, body
    status, _, body = call(daemon, "POST", f"/v1/sprites/{name}/exec?cmd=true")
    assert status == 200, body

    after = scrape(daemon)
    assert value(after, "hob_sprites_created_total") == value(before, "hob_sprites_created_total") + 1
    assert value(after, "hob_execs_total") == value(before, "hob_execs_total") + 2
    assert value(after, "hob_checkpoint_seconds_count") == value(before, "hob_checkpoint_seconds_count") + 1
    assert value(after, "hob_wakes_total", **{"from": "cold"}) >= value(before, "hob_wakes_total", **{"from": "cold"}) + 1
    assert value(after, "hob_wakes_total", **{"from": "warm"}) == value(before, "hob_wakes_total", **{"from": "warm"}) + 1
    assert value(after, "hob_wake_seconds_count", **{"from": "warm"}) == value(before, "hob_wake_seconds_count", **{"from": "warm"}) + 1
    assert value(after, "hob_sprites", state="running") >= 1

    status, _, _ = call(daemon, "DELETE", f"/v1/sprites/{name}")
    assert status in (200, 204)
    gone = scrape(daemon)
    assert value(gone, "hob_sprites_destroyed_total") == value(after, "hob_sprites_destroyed_total") + 1


def test_metrics_need_a_token_that_reads_every_sprite(daemon):
    assert call(daemon, "GET", "/metrics", token="")[0] == 401
    assert call(daemon, "GET", "/metrics", token="not-a-token")[0] == 401
    scraper = mint(daemon, ops=["read"])
    assert value(scrape(daemon, token=scraper), "hob_pool_bytes", kind="size") > 0
    one_sprite = mint(daemon, sprites=["ops-other"], ops=["read"])
    status, _, body = call(daemon, "GET", "/metrics", token=one_sprite)
    assert status == 403, body
    assert json.loads(body)["error"] == "permission_denied"


def test_json_logs_are_one_object_per_line_with_the_sprite_and_the_request_id(daemon):
    name = f"ops-{uuid.uuid4().hex[:8]}"
    seen = daemon.lines_seen
    status, headers, body = call(daemon, "POST", "/v1/sprites", {"name": name})
    assert status in (200, 201), body
    request_id = headers["Fly-Request-Id"]
    deadline = time.monotonic() + 10
    created = None
    while created is None and time.monotonic() < deadline:
        for line in daemon.tail(since=seen, limit=1000).splitlines():
            if '"sprite created"' in line:
                created = json.loads(line)
        time.sleep(0.1)
    assert created is not None, daemon.tail(since=seen)
    assert created["sprite"] == name
    assert created["request_id"] == request_id
    assert created["level"] == "info" and created["time"].endswith("Z")
    call(daemon, "DELETE", f"/v1/sprites/{name}")

    # Everything the daemon wrote is JSON, except the admin token notice on stdout at first start.
    for line in daemon.tail(limit=5000).splitlines():
        if not line.strip() or line.startswith(("Hob admin token", "  hob_")) or line.startswith("[ops]"):
            continue
        parsed = json.loads(line)
        assert {"time", "level", "message", "label", "source"} <= parsed.keys(), line


def test_a_service_manager_hears_ready_once_the_api_answers_and_stopping_at_sigterm(tmp_path):
    """`Type=notify` in hob.service: READY=1 on NOTIFY_SOCKET once the API listens, STOPPING=1 when it stops."""
    import signal
    import socket

    import hob_daemon

    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(60)
    try:
        with hob_daemon.running(
            "hobntfy", "10.220.0.0/16", state_prefix="hob-notify-", log_prefix="[ops]", env={"NOTIFY_SOCKET": path},
        ) as daemon:
            ready = listener.recv(4096).decode()
            assert "READY=1" in ready.split("\n"), ready
            assert call(daemon, "GET", "/v1/sprites")[0] == 200
            daemon.process.send_signal(signal.SIGTERM)
            stopping = listener.recv(4096).decode()
            assert "STOPPING=1" in stopping.split("\n"), stopping
    finally:
        listener.close()
