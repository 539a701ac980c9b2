"""A real Hob daemon for the operator checks (metrics and JSON logs), run with `--log-format json`.

It uses compat/hob_daemon.py with `--instance hobops --subnet 10.219.0.0/16` on a temporary state directory and free
ports. Without root, the binary or prometheus_client, every test is skipped with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hob_daemon  # noqa: E402  (compat/hob_daemon.py)


@pytest.fixture(scope="session")
def daemon(pytestconfig) -> Iterator[hob_daemon.HobDaemon]:
    reason = hob_daemon.skip_reason("the operator checks")
    if reason:
        pytest.skip(reason)
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        pytest.skip("prometheus_client is not installed: pip install -r compat/ops/requirements.txt")
    echo = pytestconfig.getoption("capture") == "no"
    with hob_daemon.running(
        "hobops", "10.219.0.0/16", echo=echo, state_prefix="hob-ops-", log_prefix="[ops]",
        extra_args=["--log-format", "json"],
    ) as running:
        yield running
