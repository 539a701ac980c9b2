"""The dashboard in a real browser: what a person does with it, step by step (issue 14).

The tests run in file order and build on each other, as a person's session would: log in, create a sprite, use its
terminal, checkpoint and restore it, then look at the page a scoped token gets. Each saves screenshots of the pages
it looked at; any browser console error fails the test it happened in (conftest.py).
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

SPRITE = f"ui-{uuid.uuid4().hex[:8]}"
WINDOW = (1280, 1000)  # as conftest.py opens it
WAIT_S = 60
UI_FILES = {
    "index.html": "text/html", "app.js": "javascript", "app.css": "text/css", "xterm.js": "javascript",
    "xterm.css": "text/css", "fit.js": "javascript", "XTERM-LICENSE.txt": "text/plain",
}


# ---------------------------------------------------------------------------------------------
# Helpers


def by_testid(testid: str) -> tuple:
    return By.CSS_SELECTOR, f'[data-testid="{testid}"]'


def find(browser, testid: str):
    return browser.driver.find_element(*by_testid(testid))


def wait_for(browser, condition, what: str, timeout: float = WAIT_S):
    """Waits until condition(driver) is truthy; the failure says what was awaited and what the page said."""
    try:
        return WebDriverWait(browser.driver, timeout, poll_frequency=0.2).until(condition)
    except Exception as error:
        message = browser.driver.execute_script("const m = document.getElementById('message'); return m && !m.hidden ? m.textContent : '';")
        raise AssertionError(f"timed out waiting for {what} (page message: {message or 'none'})") from error


def text_of(browser, testid: str) -> str:
    elements = browser.driver.find_elements(*by_testid(testid))
    return elements[0].text if elements else ""


def shown(browser, testid: str) -> bool:
    elements = browser.driver.find_elements(*by_testid(testid))
    return bool(elements) and elements[0].is_displayed()


def terminal_lines(browser) -> list:
    """The terminal's rows as the page renders them (xterm's DOM renderer)."""
    text = browser.driver.execute_script(
        "const rows = document.querySelector('#terminal .xterm-rows'); return rows ? rows.innerText : '';")
    return [line.replace("\u00a0", " ").rstrip() for line in text.split("\n")]


def type_in_terminal(browser, text: str) -> None:
    """Types as a person does: focus the terminal, then keys (Enter at the end)."""
    find(browser, "terminal").click()
    ActionChains(browser.driver).send_keys(text).send_keys(Keys.ENTER).perform()


def run_in_terminal(browser, command: str, expected_line: str) -> None:
    """Runs command in the terminal and waits for a row that is exactly expected_line."""
    type_in_terminal(browser, command)
    wait_for(browser, lambda _: expected_line in terminal_lines(browser), f"the terminal to show {expected_line!r}")


def open_terminal(browser) -> None:
    find(browser, "terminal-connect").click()
    wait_for(browser, lambda _: text_of(browser, "terminal-state").startswith("connected"), "the terminal to connect")
    wait_for(browser, lambda _: any(line.endswith("#") for line in terminal_lines(browser)), "a shell prompt")


def api(hob, method: str, path: str, body=None):
    """One API call with the admin token: the JSON answer, or the text of any other (an NDJSON stream)."""
    request = urllib.request.Request(
        hob.base_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {hob.token}", "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        raw = response.read().decode()
        content_type = response.headers.get("Content-Type", "")
    return json.loads(raw) if content_type.startswith("application/json") and raw else raw


def log_in(browser, token: str) -> None:
    find(browser, "login-token").send_keys(token)
    find(browser, "login-submit").click()
    wait_for(browser, lambda _: shown(browser, "list-view"), "the sprite list after logging in")


# ---------------------------------------------------------------------------------------------
# The pages


def test_static_files_are_served_without_a_token(hob):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(hob.base_url + "/", timeout=10) as response:
        assert response.url.endswith("/ui/"), f"/ did not lead to /ui/ but to {response.url}"
        assert "text/html" in response.headers["Content-Type"]
    for name, content_type in UI_FILES.items():
        with opener.open(f"{hob.base_url}/ui/{name}", timeout=10) as response:
            assert response.status == 200, name
            assert content_type in response.headers["Content-Type"], f"{name}: {response.headers['Content-Type']}"
            assert len(response.read()) > 100, f"{name} is (nearly) empty"


def test_login_with_the_admin_token_shows_the_list(hob, browser):
    browser.driver.get(hob.base_url + "/")
    wait_for(browser, lambda _: shown(browser, "login-view"), "the login form")
    browser.screenshot("login")
    log_in(browser, hob.token)
    assert "admin token" in text_of(browser, "scope")
    assert shown(browser, "create-form")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#host-chart svg polyline"), "the host usage chart's line")
    browser.screenshot("list-empty")


def test_create_a_sprite_from_the_page(hob, browser):
    find(browser, "create-name").send_keys(SPRITE)
    find(browser, "create-submit").click()
    wait_for(browser, lambda _: text_of(browser, f"status-{SPRITE}") in ("cold", "warm", "running"),
             "the new sprite's row with its live status")
    assert shown(browser, f"destroy-{SPRITE}") and shown(browser, f"sleep-{SPRITE}")
    browser.screenshot("list-created")


def test_terminal_echoes(hob, browser):
    find(browser, f"sprite-link-{SPRITE}").click()
    wait_for(browser, lambda _: text_of(browser, "sprite-name") == SPRITE, "the sprite's page")
    open_terminal(browser)
    run_in_terminal(browser, "echo hi", "hi")
    wait_for(browser, lambda _: text_of(browser, "sprite-status") == "running", "the status to be running")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#sprite-chart svg polyline"), "the usage chart's line")
    browser.screenshot("sprite-terminal")


def test_terminal_follows_the_window_size(hob, browser):
    columns = lambda: browser.driver.execute_script("return hobTerm.cols")  # noqa: E731
    before = columns()
    browser.driver.set_window_size(1000, 900)
    try:
        wait_for(browser, lambda _: columns() != before, "the terminal to refit a narrower window")
        run_in_terminal(browser, "echo cols=$(tput cols)", f"cols={columns()}")
    finally:
        browser.driver.set_window_size(*WINDOW)


def test_checkpoint_then_restore_it(hob, browser):
    find(browser, "checkpoint-comment").send_keys("before the marker")
    find(browser, "checkpoint-create").click()
    wait_for(browser, lambda _: find(browser, "progress").get_attribute("data-state") == "done", "the checkpoint's stream to finish")
    assert "Checkpoint v1 created" in text_of(browser, "progress")
    wait_for(browser, lambda _: browser.driver.find_elements(*by_testid("restore-v1")), "v1 in the timeline")
    browser.screenshot("checkpoint-taken")

    run_in_terminal(browser, "touch /root/marker && echo made-$((6*7))", "made-42")
    # Every status the badge shows from now on, however briefly.
    browser.driver.execute_script("""
        window.hobStatusSeen = [];
        const badge = document.getElementById('sprite-status');
        new MutationObserver(() => hobStatusSeen.push(badge.textContent))
            .observe(badge, {childList: true, characterData: true, subtree: true});""")
    find(browser, "restore-v1").click()
    wait_for(browser, lambda _: find(browser, "progress").get_attribute("data-state") == "done", "the restore's stream to finish")
    assert "Restored" in text_of(browser, "progress")
    wait_for(browser, lambda _: text_of(browser, "sprite-status") in ("running", "warm", "cold"), "a sprite status after the restore")
    seen = browser.driver.execute_script("return hobStatusSeen")
    assert "restoring" in seen, f"the page never showed the restore (statuses seen: {seen})"
    browser.screenshot("restored")

    # The restore replaced the disk under the shell: open a new one and look for the marker.
    if shown(browser, "terminal-disconnect"):
        find(browser, "terminal-disconnect").click()
    open_terminal(browser)
    run_in_terminal(browser, "test -e /root/marker && echo marker-$((1+1)) || echo gone-$((2+2))", "gone-4")
    assert re.search(r"auto-\d", text_of(browser, "checkpoint-rows")), "the replaced state is not in the timeline"
    browser.screenshot("restored-terminal")


def test_services_and_their_logs(hob, browser):
    api(hob, "PUT", f"/v1/sprites/{SPRITE}/services/greeter",
        {"cmd": "bash", "args": ["-c", "echo hello-from-greeter '<b>not bold</b>'; sleep 3600"]})
    row = (By.CSS_SELECTOR, '[data-service="greeter"]')
    wait_for(browser, lambda d: "running" in d.find_element(*row).text if d.find_elements(*row) else False,
             "the service listed as running")
    find(browser, "logs-greeter").click()
    wait_for(browser, lambda _: "hello-from-greeter <b>not bold</b>" in text_of(browser, "service-log"), "the service's log")
    # API data is text on the page, never markup.
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#service-rows b, #service-log b")
    browser.screenshot("services")


def test_fork_from_a_checkpoint(hob, browser):
    fork = f"{SPRITE}-f"
    find(browser, "fork-v1").click()
    find(browser, "fork-name").send_keys(fork)
    find(browser, "fork-submit").click()
    wait_for(browser, lambda _: text_of(browser, "sprite-name") == fork, "the fork's page")
    wait_for(browser, lambda _: f"fork of {SPRITE} at v1" in text_of(browser, "checkpoint-rows"), "the fork's v0")
    browser.screenshot("forked")
    browser.driver.get(f"{hob.base_url}/ui/#/sprite/{SPRITE}")  # off the fork's page before it goes
    wait_for(browser, lambda _: text_of(browser, "sprite-name") == SPRITE, "the sprite's page again")
    api(hob, "DELETE", f"/v1/sprites/{fork}")


def test_sleep_from_the_sprite_page(hob, browser):
    find(browser, "sprite-sleep").click()
    wait_for(browser, lambda _: text_of(browser, "sprite-status") in ("warm", "cold"), "the status to turn warm")
    browser.screenshot("asleep")


def test_scoped_token_sees_no_lifecycle_actions(hob, browser):
    minted = api(hob, "POST", f"/v1/organizations/{hob.org}/tokens",
                 {"description": "browser test", "sprites": [SPRITE], "ops": ["read", "exec"], "expires_in": 600})
    find(browser, "logout").click()
    wait_for(browser, lambda _: shown(browser, "login-view"), "the login form after logging out")
    assert browser.driver.execute_script("return sessionStorage.length") == 0
    log_in(browser, minted["token"])

    assert "scoped token" in text_of(browser, "scope")
    wait_for(browser, lambda _: text_of(browser, f"status-{SPRITE}") != "", "the token's sprite in the list")
    assert not shown(browser, "create-form"), "a token without `create` is offered Create"
    assert not shown(browser, f"destroy-{SPRITE}"), "a token without `lifecycle` is offered Destroy"
    assert not shown(browser, "host-usage"), "a sprite-scoped token is shown host usage"
    browser.screenshot("scoped-list")

    find(browser, f"sprite-link-{SPRITE}").click()
    wait_for(browser, lambda _: text_of(browser, "sprite-status") != "", "the sprite's page")
    for action in ("sprite-destroy", "sprite-sleep", "checkpoint-form", "restore-v1", "fork-v1"):
        assert not shown(browser, action), f"a token without that operation is offered {action}"
    assert shown(browser, "terminal-connect"), "a token with `exec` has no terminal"
    browser.screenshot("scoped-sprite")


def test_token_that_cannot_read_goes_to_its_sprite(hob, browser):
    minted = api(hob, "POST", f"/v1/organizations/{hob.org}/tokens",
                 {"description": "browser test", "sprites": [SPRITE], "ops": ["exec"], "expires_in": 600})
    find(browser, "logout").click()
    wait_for(browser, lambda _: shown(browser, "login-view"), "the login form after logging out")
    find(browser, "login-token").send_keys(minted["token"])
    find(browser, "login-sprite").send_keys(SPRITE)
    find(browser, "login-submit").click()
    wait_for(browser, lambda _: text_of(browser, "sprite-name") == SPRITE, "the token's sprite page")
    assert not shown(browser, "checkpoint-form") and not shown(browser, "sprite-destroy")
    open_terminal(browser)
    run_in_terminal(browser, "echo only-exec-$((3*3))", "only-exec-9")
    browser.screenshot("exec-only-sprite")


def test_destroy_from_the_list(hob, browser):
    find(browser, "logout").click()
    log_in(browser, hob.token)
    destroy = (By.CSS_SELECTOR, f'[data-testid="destroy-{SPRITE}"]')
    wait_for(browser, lambda d: d.find_elements(*destroy), "the sprite's Destroy button")
    browser.driver.find_element(*destroy).click()  # asks
    browser.driver.find_element(*destroy).click()  # confirms
    wait_for(browser, lambda d: not d.find_elements(*destroy), "the sprite's row to go")
    browser.screenshot("list-destroyed")
