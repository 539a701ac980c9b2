"""Fixtures for the dashboard's browser test: a real Hob daemon and a real headless Chromium.

The daemon (compat/hob_daemon.py) runs with `--instance hobui --subnet 10.216.0.0/16` on a temporary state directory
and free ports; it serves the dashboard compiled into the binary, or the files of `$HOB_UI_DIR` if that is set (to
try page changes without a rebuild). Chromium is Debian's (`chromium`, `chromium-driver`), driven by selenium
through `/usr/bin/chromedriver`: nothing is downloaded. Without root, the binary, Chromium, its driver or selenium,
every test is skipped with the reason.

Every page a test looks at is saved as a PNG in `$HOB_SCREENSHOTS` (default: a directory under pytest's temporary
path); the directory and its files are listed at the end of the run. A browser console entry of level SEVERE (an
uncaught error, a failed request, a failed page load) fails the test during which it appeared.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hob_daemon  # noqa: E402  (compat/hob_daemon.py)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = "1280,1000"

_SCREENSHOTS: List[Path] = []
_SCREENSHOT_DIR: Optional[Path] = None


def skip_reason() -> Optional[str]:
    reason = hob_daemon.skip_reason("the browser test")
    if reason:
        return reason
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.is_file():
            return f"{binary} not found: apt-get install -y {package}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -r compat/browser/requirements.txt"
    return None


@dataclass
class Daemon:
    base_url: str
    token: str  # the admin token
    org: str  # the daemon's organization: its --instance


@pytest.fixture(scope="session")
def hob(pytestconfig) -> Iterator[Daemon]:
    """The daemon for the whole run; `HOB_BROWSER_URL` + `HOB_BROWSER_TOKEN` point the test at one already running."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if os.environ.get("HOB_BROWSER_URL"):
        yield Daemon(os.environ["HOB_BROWSER_URL"].rstrip("/"), os.environ["HOB_BROWSER_TOKEN"], os.environ.get("HOB_BROWSER_ORG", "hobui"))
        return
    echo = pytestconfig.getoption("capture") == "no"
    with hob_daemon.running("hobui", "10.216.0.0/16", echo=echo, state_prefix="hob-browser-", log_prefix="[browser]") as daemon:
        yield Daemon(daemon.base_url, daemon.token, "hobui")


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    global _SCREENSHOT_DIR
    configured = os.environ.get("HOB_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    _SCREENSHOT_DIR = directory
    return directory


class Browser:
    """One headless Chromium window, with the helpers the tests share."""

    def __init__(self, driver, base_url: str, screenshot_dir: Path):
        self.driver = driver
        self.base_url = base_url
        self.screenshot_dir = screenshot_dir

    def screenshot(self, name: str) -> Path:
        """Saves the whole page (not only the window) as the run's next numbered PNG."""
        path = self.screenshot_dir / f"{len(_SCREENSHOTS) + 1:02d}-{name}.png"
        width, height = self.driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        })
        path.write_bytes(base64.b64decode(shot["data"]))
        _SCREENSHOTS.append(path)
        print(f"[browser] screenshot: {path}")
        return path

    def severe_console_entries(self) -> List[dict]:
        """Console entries since the last call (reading drains them) that are errors."""
        return [entry for entry in self.driver.get_log("browser") if entry.get("level") == "SEVERE"]


def _chrome(user_data_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with the driver's path given too, selenium looks nothing up
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={WINDOW}",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def browser(hob, screenshot_dir, tmp_path_factory) -> Iterator[Browser]:
    """A fresh browser (its own profile, so its own sessionStorage) for a test module."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = _chrome(profile)
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver, hob.base_url, screenshot_dir)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_console_errors(request) -> Iterator[None]:
    """Fails a test during which the page logged an error (uncaught exception, failed request or load)."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser: Browser = request.getfixturevalue("browser")
    browser.severe_console_entries()  # what earlier tests left is theirs
    yield
    errors = browser.severe_console_entries()
    assert not errors, "the browser logged errors:\n" + "\n".join(entry["message"] for entry in errors)


def pytest_terminal_summary(terminalreporter) -> None:
    if _SCREENSHOT_DIR is not None:
        terminalreporter.write_sep("-", f"browser screenshots in {_SCREENSHOT_DIR}")
        for path in _SCREENSHOTS:
            terminalreporter.write_line(str(path))
