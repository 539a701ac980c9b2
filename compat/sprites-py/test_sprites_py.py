"""The unmodified sprites-py 0.7.2 client against a real Hob daemon, one behaviour per test.

Only the public sprites-py API is used. docs/notes/sprites-py-0.7.2.md describes the wire protocol each test exercises.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.parse
import urllib.request
import uuid

import pytest

sprites = pytest.importorskip("sprites", reason="sprites-py is not installed (pip install -r tests/compat/requirements.txt)")

from sprites import (  # noqa: E402
    AuthenticationError,
    ExecError,
    ListOptions,
    NetworkError,
    NotFoundError,
    SpriteError,
    SpritesClient,
    URLSettings,
)
from sprites.exceptions import APIError  # noqa: E402
from sprites.exceptions import TimeoutError as SpritesTimeoutError  # noqa: E402

from conftest import make_client  # noqa: E402

# Generous per-command limit: the first exec may have to boot the sprite.
EXEC_TIMEOUT = 120.0


def names(items) -> set:
    return {item.name for item in items}


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- lifecycle


def test_create_returns_sprite_info(client, sprite_name):
    created = client.create_sprite(sprite_name)

    assert created.name == sprite_name
    assert created.id
    assert created.organization_name
    assert created.status in {"cold", "warm", "running"}
    assert created.created_at is not None, "created_at missing or not RFC 3339"
    assert created.updated_at is not None, "updated_at missing or not RFC 3339"
    assert created.url
    assert created.labels == []


def test_create_with_labels_returns_them(client, sprite_name):
    created = client.create_sprite(sprite_name, labels=["compat", "py"])

    assert sorted(created.labels) == ["compat", "py"]


def test_create_duplicate_name_is_rejected(client, sprite):
    with pytest.raises(SpriteError) as raised:
        client.create_sprite(sprite.name)

    assert not isinstance(raised.value, (NetworkError, AuthenticationError, NotFoundError)), raised.value


def test_create_invalid_name_is_rejected_cleanly(client):
    invalid = "Not A Valid/Name!"
    try:
        with pytest.raises(SpriteError) as raised:
            client.create_sprite(invalid)
        assert not isinstance(raised.value, (NetworkError, AuthenticationError)), raised.value
        assert "status 4" in str(raised.value), raised.value
    finally:
        try:
            client.destroy_sprite(invalid)
        except SpriteError:
            pass
    client.list_sprites()  # the daemon is still answering


def test_get_returns_the_sprite(client, sprite):
    fetched = client.get_sprite(sprite.name)

    assert fetched.name == sprite.name
    assert fetched.id == sprite.id
    assert fetched.status in {"cold", "warm", "running"}
    assert fetched.created_at == sprite.created_at


def test_get_unknown_sprite_raises_not_found(client):
    with pytest.raises(NotFoundError):
        client.get_sprite(unique_name("compat-missing-"))


def test_list_includes_the_sprite(client, sprite):
    page = client.list_sprites()

    assert sprite.name in names(page.sprites)
    assert isinstance(page.has_more, bool)


def test_list_prefix_filters(client, sprite):
    matching = client.list_sprites(ListOptions(prefix=sprite.name))
    other = client.list_sprites(ListOptions(prefix=unique_name("compat-nomatch-")))

    assert names(matching.sprites) == {sprite.name}
    assert other.sprites == []
    assert other.has_more is False


def test_list_paginates_with_continuation_token(client):
    prefix = unique_name("compat-page-") + "-"
    created = [client.create_sprite(f"{prefix}{i}").name for i in range(3)]
    try:
        seen = []
        token = None
        for _ in range(10):
            page = client.list_sprites(ListOptions(prefix=prefix, max_results=2, continuation_token=token))
            assert len(page.sprites) <= 2
            seen.extend(item.name for item in page.sprites)
            if not page.has_more:
                break
            assert page.next_continuation_token, "has_more without next_continuation_token"
            token = page.next_continuation_token
        assert sorted(seen) == sorted(created)
        assert names(client.list_all_sprites(prefix=prefix)) == set(created)
    finally:
        for name in created:
            client.destroy_sprite(name)


def test_update_labels_replaces_them(client, sprite):
    updated = sprite.update(labels=["alpha", "beta"])

    assert updated.name == sprite.name
    assert sorted(updated.labels) == ["alpha", "beta"]
    assert sorted(client.get_sprite(sprite.name).labels) == ["alpha", "beta"]


def test_update_is_partial(client, sprite):
    sprite.update(labels=["keep"])
    updated = sprite.update(url_settings=URLSettings(auth="public"))

    assert updated.labels == ["keep"]
    assert updated.url_settings is not None and updated.url_settings.auth == "public"


def test_destroy_removes_the_sprite(client, sprite):
    sprite.destroy()

    with pytest.raises(NotFoundError):
        client.get_sprite(sprite.name)
    assert sprite.name not in names(client.list_sprites().sprites)


def test_destroy_unknown_sprite_raises_not_found(client):
    with pytest.raises(NotFoundError):
        client.destroy_sprite(unique_name("compat-missing-"))


# ---------------------------------------------------------------- auth


@pytest.fixture(params=["wrong-token", "altered-admin-token"])
def bad_client(request, hob):
    # sprites-py cannot send an empty token: h11 rejects the header "Bearer " before it leaves the client.
    base_url, token = hob
    bad_token = "wrong-token" if request.param == "wrong-token" else token[:-1] + ("A" if token[-1] != "A" else "B")
    with make_client(bad_token, base_url) as bad:
        yield bad


def test_bad_token_cannot_list(bad_client):
    with pytest.raises(AuthenticationError):
        bad_client.list_sprites()


def test_bad_token_cannot_get_existing_sprite(bad_client, sprite):
    with pytest.raises(AuthenticationError):
        bad_client.get_sprite(sprite.name)


def test_bad_token_cannot_create(bad_client, sprite_name):
    with pytest.raises(AuthenticationError):
        bad_client.create_sprite(sprite_name)


def test_bad_token_cannot_exec(bad_client, sprite):
    with pytest.raises(APIError) as raised:
        bad_client.sprite(sprite.name).run("true", timeout=EXEC_TIMEOUT)

    assert raised.value.status_code == 401


# ---------------------------------------------------------------- exec: output and exit codes


def test_run_captures_stdout(sprite):
    result = sprite.run("echo", "hello", capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.returncode == 0
    assert result.stdout == b"hello\n"
    assert result.stderr == b""


def test_run_separates_stdout_and_stderr(sprite):
    result = sprite.run("sh", "-c", "echo out; echo err >&2", capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_argv_is_passed_verbatim(sprite):
    # The query string is form-encoded: space travels as '+', a literal '+' as %2B.
    args = ["a b", "c+d", "x=y", "&?#%", "ü"]
    result = sprite.run("printf", "%s|", *args, capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.stdout.decode() == "".join(f"{arg}|" for arg in args)


def test_large_output_arrives_complete_before_exit(sprite):
    size = 3_000_000
    result = sprite.run("head", "-c", str(size), "/dev/zero", capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.returncode == 0
    assert len(result.stdout) == size
    assert result.stdout.count(0) == size


@pytest.mark.parametrize("code", [0, 1, 7, 42, 255])
def test_exit_code_is_reported(sprite, code):
    result = sprite.run("sh", "-c", f"exit {code}", timeout=EXEC_TIMEOUT)

    assert result.returncode == code


def test_check_raises_exec_error_with_code_and_output(sprite):
    with pytest.raises(ExecError) as raised:
        sprite.run("sh", "-c", "echo oops >&2; exit 7", capture_output=True, check=True, timeout=EXEC_TIMEOUT)

    assert raised.value.exit_code() == 7
    assert raised.value.stderr == b"oops\n"


def test_command_output_raises_on_failure(sprite):
    with pytest.raises(ExecError) as raised:
        sprite.command("sh", "-c", "echo partial; exit 3", timeout=EXEC_TIMEOUT).output()

    assert raised.value.exit_code() == 3
    assert raised.value.stdout == b"partial\n"


def test_unknown_program_fails_cleanly(sprite):
    # Either a non-zero exit status or a refused upgrade is fine; closing without an exit frame (NetworkError) is not.
    try:
        result = sprite.run("/nonexistent/program", capture_output=True, timeout=EXEC_TIMEOUT)
    except APIError:
        return
    assert result.returncode != 0


def test_exec_on_unknown_sprite_is_rejected(client):
    with pytest.raises(APIError) as raised:
        client.sprite(unique_name("compat-missing-")).run("true", timeout=EXEC_TIMEOUT)

    assert raised.value.status_code == 404


# ---------------------------------------------------------------- exec: stdin


def test_stdin_is_piped_in(sprite):
    output = sprite.command("wc", "-c", stdin=io.BytesIO(b"x" * 10_000), timeout=EXEC_TIMEOUT).output()

    assert output.strip() == b"10000"


def test_stdin_binary_round_trip(sprite):
    data = bytes(range(256)) * 400  # 100 KiB, crosses the client's 4 KiB stdin chunks
    output = sprite.command("cat", stdin=io.BytesIO(data), timeout=EXEC_TIMEOUT).output()

    assert output == data


def test_no_stdin_means_eof(sprite):
    # run() has no stdin: the client sends only the EOF frame, so cat must see end-of-file and exit.
    result = sprite.run("cat", capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.returncode == 0
    assert result.stdout == b""


# ---------------------------------------------------------------- exec: environment and directory


def test_env_is_passed_through(sprite):
    value = "a b=c+d ü"
    result = sprite.run(
        "sh", "-c", 'printf %s "$HOB_COMPAT_VAR"',
        env={"HOB_COMPAT_VAR": value}, capture_output=True, timeout=EXEC_TIMEOUT,
    )

    assert result.stdout.decode() == value


def test_cwd_is_honoured(sprite):
    result = sprite.run("pwd", cwd="/tmp", capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.stdout == b"/tmp\n"


def test_without_tty_there_is_no_terminal(sprite):
    result = sprite.run(
        "sh", "-c", "if [ -t 0 ] || [ -t 1 ]; then echo tty; else echo notty; fi",
        capture_output=True, timeout=EXEC_TIMEOUT,
    )

    assert result.stdout == b"notty\n"


# ---------------------------------------------------------------- exec: TTY


def test_tty_allocates_a_pty(sprite):
    result = sprite.run("tty", tty=True, capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.returncode == 0
    assert re.search(rb"/dev/pts/\d+", result.stdout), result.stdout


def test_tty_default_size_is_24x80(sprite):
    result = sprite.run("stty", "size", tty=True, capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.stdout.strip() == b"24 80"


def test_tty_size_follows_rows_and_cols(sprite):
    result = sprite.run("stty", "size", tty=True, tty_rows=33, tty_cols=101, capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.stdout.strip() == b"33 101"


def test_tty_exit_code_is_reported(sprite):
    # In TTY mode binary frames are raw terminal bytes, so only the text exit frame can carry the code.
    result = sprite.run("sh", "-c", "exit 5", tty=True, timeout=EXEC_TIMEOUT)

    assert result.returncode == 5


def test_tty_merges_stderr_into_stdout(sprite):
    result = sprite.run("sh", "-c", "echo err >&2", tty=True, capture_output=True, timeout=EXEC_TIMEOUT)

    assert b"err" in result.stdout
    assert result.stderr == b""


# ---------------------------------------------------------------- exec: robustness


def test_client_timeout_leaves_the_sprite_usable(sprite):
    with pytest.raises(SpritesTimeoutError):
        sprite.run("sleep", "30", timeout=2)

    result = sprite.run("echo", "still here", capture_output=True, timeout=EXEC_TIMEOUT)
    assert result.stdout == b"still here\n"


def test_sequential_commands_reuse_the_sprite(sprite):
    sprite.run("sh", "-c", "echo persisted > /tmp/compat-marker", check=True, timeout=EXEC_TIMEOUT)
    result = sprite.run("cat", "/tmp/compat-marker", capture_output=True, timeout=EXEC_TIMEOUT)

    assert result.stdout == b"persisted\n"


# ---------------------------------------------------------------- sleep and wake


def _force_sleep(hob, name: str, state: str) -> dict:
    """POST /v1/sprites/{name}/sleep (a Hob extension sprites-py does not know)."""
    base_url, token = hob
    request = urllib.request.Request(
        f"{base_url}/v1/sprites/{name}/sleep", data=json.dumps({"state": state}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("state", ["warm", "cold"])
def test_a_sleeping_sprite_wakes_for_run(client, hob, sprite, state):
    wrote = sprite.run("sh", "-c", "echo kept > /root/kept", timeout=EXEC_TIMEOUT)
    assert wrote.returncode == 0

    assert _force_sleep(hob, sprite.name, state)["status"] == state
    asleep = client.get_sprite(sprite.name)
    assert asleep.status == state
    assert asleep.last_running_at is not None
    if state == "warm":
        assert asleep.last_warming_at is not None, "last_warming_at missing or not RFC 3339"
    page = client.list_sprites()
    assert page.running + page.warm + page.cold >= len(page.sprites)
    assert (page.warm if state == "warm" else page.cold) >= 1

    result = sprite.run("cat", "/root/kept", capture_output=True, timeout=EXEC_TIMEOUT)
    assert result.returncode == 0 and result.stdout == b"kept\n"
    assert client.get_sprite(sprite.name).status == "running"


# ---------------------------------------------------------------- URLs (SPRITES-API.md §11)


def test_sprite_url_serves_port_8080(client, hob, sprite):
    import httpx

    _, token = hob
    started = sprite.run(
        "sh", "-c",
        "cd /root && touch listed-through-the-url && (setsid nohup python3 -m http.server 8080 >/dev/null 2>&1 </dev/null &)"
        " && for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1",
        timeout=EXEC_TIMEOUT)
    assert started.returncode == 0

    url = urllib.parse.urlsplit(client.get_sprite(sprite.name).url)
    assert url.scheme == "http" and url.hostname == f"{sprite.name}.hob.localhost", url
    # Browsers and curl resolve *.localhost to this machine; glibc (and so httpx) does not: connect
    # to the loopback address and send the URL's host name as Host, as a browser would.
    response = httpx.get(
        f"http://127.0.0.1:{url.port}{url.path}", headers={"Host": url.netloc, "Authorization": f"Bearer {token}"}, timeout=60)
    assert response.status_code == 200, response.text
    assert "listed-through-the-url" in response.text

    assert httpx.get(f"http://127.0.0.1:{url.port}{url.path}", headers={"Host": url.netloc}, timeout=60).status_code == 401


# ---------------------------------------------------------------- checkpoints (SPRITES-API.md §7)


def sh(sprite, script: str) -> bytes:
    return sprite.run("sh", "-c", script, capture_output=True, check=True, timeout=EXEC_TIMEOUT).stdout


def stream(messages) -> list:
    """Drains a checkpoint or restore stream into (type, data, error) tuples."""
    return [(m.type, m.data, m.error) for m in messages]


def created_id(lines) -> str:
    """The checkpoint id, parsed the way third-party clients do: from the "  ID: vN" line."""
    ids = [data[len("  ID: "):] for kind, data, _ in lines if kind == "info" and data and data.startswith("  ID: ")]
    assert len(ids) == 1, lines
    return ids[0]


def test_create_checkpoint_streams_to_complete(sprite):
    lines = stream(sprite.create_checkpoint("compat first"))

    checkpoint = created_id(lines)
    assert re.fullmatch(r"v[1-9][0-9]*", checkpoint)
    assert lines[-1] == ("complete", f"Checkpoint {checkpoint} created successfully", None)
    assert not [line for line in lines if line[0] == "error"]


def test_list_checkpoints_shows_the_new_one(sprite):
    checkpoint = created_id(stream(sprite.create_checkpoint("listed")))

    listed = {c.id: c for c in sprite.list_checkpoints()}

    assert {"Current", "v0", checkpoint} <= set(listed)
    assert listed[checkpoint].comment == "listed"
    assert listed[checkpoint].create_time.tzinfo is not None
    assert listed["Current"].history[0] == checkpoint


def test_get_checkpoint_and_unknown_checkpoint(sprite):
    checkpoint = created_id(stream(sprite.create_checkpoint("fetched")))

    assert sprite.get_checkpoint(checkpoint).comment == "fetched"
    with pytest.raises(NotFoundError):
        sprite.get_checkpoint("v999")


def test_restore_brings_back_a_wrecked_sprite(sprite):
    sh(sprite, "echo original > /root/data.txt; mkdir -p /srv/app; seq 1 1000 > /srv/app/numbers")
    before = sh(sprite, "sha256sum /root/data.txt /srv/app/numbers /usr/bin/env; ls /usr/bin | wc -l")
    checkpoint = created_id(stream(sprite.create_checkpoint("before the wreck")))

    sh(sprite, "echo clobbered > /root/data.txt; echo junk > /root/new.txt; rm -rf /srv/app; rm -rf /usr/bin")
    lines = stream(sprite.restore_checkpoint(checkpoint))

    assert lines[-1][0] == "complete", lines
    assert sh(sprite, "sha256sum /root/data.txt /srv/app/numbers /usr/bin/env; ls /usr/bin | wc -l") == before
    assert sh(sprite, "test -e /root/new.txt && echo present || echo absent") == b"absent\n"


def test_history_filter_lists_descendants(sprite):
    first = created_id(stream(sprite.create_checkpoint("first")))
    second = created_id(stream(sprite.create_checkpoint("second")))

    descendants = {c.id for c in sprite.list_checkpoints(history_filter=first)}

    assert second in descendants and "Current" in descendants
    assert first not in descendants


# ---------------------------------------------------------------- filesystem (SPRITES-API.md §10)


def test_write_text_then_read_text_and_exec_agree(client, sprite_name):
    sprite = client.create_sprite(sprite_name)
    fs = sprite.filesystem("/srv")

    (fs / "app/notes.txt").write_text("héllo from sprites-py\n")

    assert (fs / "app/notes.txt").read_text() == "héllo from sprites-py\n"
    assert client.get_sprite(sprite_name).status == "cold", "the file API must not boot the sprite"
    assert sh(sprite, "cat /srv/app/notes.txt") == "héllo from sprites-py\n".encode()


def test_iterdir_and_stat(sprite):
    fs = sprite.filesystem("/srv")
    for name in ["b.txt", "a.txt"]:
        (fs / "dir" / name).write_bytes(name.encode())

    assert [path.name for path in (fs / "dir").iterdir()] == ["a.txt", "b.txt"]
    stat = (fs / "dir/a.txt").stat()
    assert stat.size == 5 and stat.is_file and stat.mode == "0644"
    assert stat.mod_time.tzinfo is not None
    assert not (fs / "dir/missing").exists()


def test_rename_then_delete_round_trip(sprite):
    from sprites.exceptions import FileNotFoundError_

    fs = sprite.filesystem("/srv")
    old = fs / "old.txt"
    old.write_text("moving")

    new = old.rename("new.txt")

    assert str(new) == "/srv/new.txt"
    assert not old.exists()
    assert new.read_text() == "moving"
    new.unlink()
    assert not new.exists()
    with pytest.raises(FileNotFoundError_):
        new.unlink()
    new.unlink(missing_ok=True)


def test_directories_need_rmtree_unless_empty(sprite):
    from sprites.exceptions import DirectoryNotEmptyError

    fs = sprite.filesystem("/srv")
    (fs / "tree/leaf").mkdir(parents=True)
    (fs / "tree/leaf/file").write_text("x")

    with pytest.raises(DirectoryNotEmptyError):
        (fs / "tree").rmdir()
    (fs / "tree").rmtree()
    assert sh(sprite, "test -e /srv/tree && echo present || echo absent") == b"absent\n"


def test_copy_and_chmod(sprite):
    fs = sprite.filesystem("/srv")
    (fs / "tool.sh").write_text("#!/bin/sh\necho copied\n")

    copy = (fs / "tool.sh").copy_to("bin/../tool2.sh")
    copy.chmod(0o755)

    assert sh(sprite, "stat -c %a /srv/tool2.sh; /srv/tool2.sh") == b"755\ncopied\n"


def test_a_symlink_to_etc_shadow_reads_the_sprites_own_file(sprite, tmp_path):
    from sprites.exceptions import FileNotFoundError_

    host_file = tmp_path / "host-secret"
    marker = f"HOST-ONLY-{uuid.uuid4().hex}"
    host_file.write_text(marker)
    shadow = sh(sprite, f"ln -s /etc/shadow /root/leak && ln -s {host_file} /root/host && cat /etc/shadow")
    fs = sprite.filesystem("/root")

    assert (fs / "leak").read_bytes() == shadow
    with pytest.raises(FileNotFoundError_):
        (fs / "host").read_text()
    with pytest.raises(FileNotFoundError_):
        (fs / "host").write_text("overwritten")
    assert host_file.read_text() == marker


# ---------------------------------------------------------------- services


def test_service_create_list_stop_start_delete(sprite):
    stream = sprite.create_service("web", "python3", args=["-m", "http.server", "8080"], http_port=8080)
    events = [e.type for e in stream]
    assert events[-1] == "complete", events

    listed = {s.name: s for s in sprite.list_services()}
    assert listed["web"].http_port == 8080
    assert listed["web"].args == ["-m", "http.server", "8080"]
    assert listed["web"].state.status == "running"
    assert listed["web"].state.pid

    # The server answers inside the sprite (once it has bound its port).
    wait = "for i in $(seq 100); do curl -sf http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1"
    assert "Directory listing" in sprite.run("sh", "-c", wait, capture_output=True, timeout=EXEC_TIMEOUT).stdout.decode()

    stopped = [e.type for e in sprite.stop_service("web", timeout=5)]
    assert stopped == ["stopping", "exit", "stopped", "complete"], stopped
    assert sprite.get_service("web").state.status == "stopped"
    with pytest.raises(APIError) as not_running:
        sprite.stop_service("web")
    assert not_running.value.status_code == 409

    started = [e.type for e in sprite.start_service("web")]
    assert started[0] == "started" and started[-1] == "complete", started
    sprite.signal_service("web", "SIGHUP")  # python's http.server dies on HUP: it is restarted
    with pytest.raises(APIError) as bad_signal:
        sprite.signal_service("web", "NOT-A-SIGNAL")
    assert bad_signal.value.status_code == 400

    sprite.delete_service("web")
    assert "web" not in {s.name for s in sprite.list_services()}
    with pytest.raises(APIError) as missing:
        sprite.get_service("web")
    assert missing.value.status_code == 404


def test_service_stream_follows_output_for_duration(sprite):
    stream = sprite.create_service("echoer", "sh", args=["-c", "echo one; sleep 0.3; echo two; sleep 600"], duration=1.5)
    lines = list(stream)
    output = "".join(e.data or "" for e in lines if e.type == "stdout")
    assert output == "one\ntwo\n", [(e.type, e.data) for e in lines]
    assert lines[-1].type == "complete"
    assert lines[-1].log_files


def test_service_conflicting_http_port_is_409(sprite):
    list(sprite.create_service("a", "sleep", args=["1000"], http_port=8080))
    with pytest.raises(APIError) as conflict:
        sprite.create_service("b", "sleep", args=["1000"], http_port=9090)
    assert conflict.value.status_code == 409


def test_service_serves_the_url_and_a_url_request_wakes_a_cold_sprite(client, hob, sprite):
    """Issue 5's acceptance: a service with http_port answers at the sprite's URL, also after the sprite went cold."""
    import httpx

    _, token = hob
    sh(sprite, "mkdir -p /srv/site && touch /srv/site/served-by-the-service")
    list(sprite.create_service("site", "python3", args=["-m", "http.server", "8080"], http_port=8080, dir="/srv/site"))

    url = urllib.parse.urlsplit(client.get_sprite(sprite.name).url)
    # glibc does not resolve *.localhost (browsers and curl do): connect to loopback, name the sprite in Host.
    target = f"http://127.0.0.1:{url.port}{url.path}"
    headers = {"Host": url.netloc, "Authorization": f"Bearer {token}"}

    def fetch():
        deadline = time.monotonic() + 30
        while True:
            response = httpx.get(target, headers=headers, timeout=60)
            if response.status_code != 502 or time.monotonic() > deadline:
                return response
            time.sleep(0.1)

    first = fetch()
    assert first.status_code == 200 and "served-by-the-service" in first.text, first.text

    assert _force_sleep(hob, sprite.name, "cold")["status"] == "cold"
    woken = httpx.get(target, headers=headers, timeout=60)  # the proxy waits for the service to listen
    assert woken.status_code == 200 and "served-by-the-service" in woken.text, woken.text
    assert client.get_sprite(sprite.name).status == "running"


# --- Network policy (issue 11: the SDK's get/update_network_policy against Hob) --------------------


def test_network_policy_is_empty_by_default(sprite):
    from sprites import NetworkPolicy

    policy = sprite.get_network_policy()
    assert isinstance(policy, NetworkPolicy)
    assert policy.rules == []


def test_network_policy_round_trips_and_is_readable_inside(sprite):
    from sprites import NetworkPolicy, PolicyRule

    rules = [
        PolicyRule(domain="github.com", action="allow"),
        PolicyRule(domain="*.npmjs.org", action="allow"),
        PolicyRule(include="defaults"),
        PolicyRule(domain="*", action="deny"),
    ]
    sprite.update_network_policy(NetworkPolicy(rules=rules))  # the SDK requires 204
    got = sprite.get_network_policy()
    assert [(r.domain, r.action, r.include) for r in got.rules] == [(r.domain, r.action, r.include) for r in rules]

    inside = json.loads(sh(sprite, "cat /.sprite/policy/network.json"))
    assert inside["rules"][0] == {"domain": "github.com", "action": "allow"}
    # The copy is read-only for the sprite's root.
    refused = sprite.run("sh", "-c", "echo '{}' > /.sprite/policy/network.json", capture_output=True, timeout=EXEC_TIMEOUT)
    assert refused.returncode != 0


def test_network_policy_denied_name_does_not_resolve(sprite):
    from sprites import NetworkPolicy, PolicyRule

    sprite.update_network_policy(NetworkPolicy(rules=[PolicyRule(domain="*", action="deny")]))
    probe = "import socket\ntry:\n    socket.getaddrinfo('example.com', 443)\n    print('resolved')\nexcept socket.gaierror:\n    print('refused')\n"
    result = sprite.run("python3", "-c", probe, capture_output=True, check=True, timeout=EXEC_TIMEOUT)
    assert result.stdout.decode().strip() == "refused"


def test_invalid_network_policy_is_a_clear_error(sprite):
    from sprites import NetworkPolicy, PolicyRule

    # The SDK raises SpriteError with the status and Hob's message.
    with pytest.raises(SpriteError) as raised:
        sprite.update_network_policy(NetworkPolicy(rules=[PolicyRule(domain="example.com", action="maybe")]))
    assert "400" in str(raised.value) and "invalid_argument" in str(raised.value) and "action must be" in str(raised.value)
    assert sprite.get_network_policy().rules == []


# ---------------------------------------------------------------- tokens


def test_create_token_mints_a_token_that_works(hob, sprite):
    """`SpritesClient.create_token` as shipped: its API URL is fixed to api.sprites.dev, so the
    request is sent to the daemon by an httpx transport that rewrites only the scheme, host and
    port; method, path, headers (`FlyV1 <token>`) and body are the SDK's own."""
    import httpx

    base_url, token = hob
    target = httpx.URL(base_url)
    real_client = httpx.Client

    class ToHob(httpx.HTTPTransport):
        def handle_request(self, request):
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            request.headers["host"] = f"{target.host}:{target.port}"
            return super().handle_request(request)

    org = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{base_url}/v1/sprites?max_results=1", headers={"Authorization": f"Bearer {token}"})).read())["org"]["name"]
    original = sprites.client.httpx.Client
    sprites.client.httpx.Client = lambda **kwargs: real_client(transport=ToHob(), **kwargs)
    try:
        minted = SpritesClient.create_token(token, org)
    finally:
        sprites.client.httpx.Client = original
    assert minted.startswith(f"{org}/")
    with make_client(minted, base_url) as minted_client:
        assert minted_client.get_sprite(sprite.name).name == sprite.name


def test_scoped_token_sees_only_its_sprite(hob, sprite, client):
    """A token minted for one sprite: that sprite works through the SDK, another looks missing."""
    base_url, token = hob
    org = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{base_url}/v1/sprites?max_results=1", headers={"Authorization": f"Bearer {token}"})).read())["org"]["name"]
    request = urllib.request.Request(
        f"{base_url}/v1/organizations/{org}/tokens", method="POST",
        data=json.dumps({"sprites": [sprite.name], "ops": ["read", "exec"], "expires_in": 600}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    scoped = json.loads(urllib.request.urlopen(request).read())["token"]
    other = client.create_sprite(unique_name("compat-"))
    try:
        with make_client(scoped, base_url) as scoped_client:
            mine = scoped_client.sprite(sprite.name)
            assert mine.command("echo", "scoped", timeout=EXEC_TIMEOUT).output().decode().strip() == "scoped"
            assert names(scoped_client.list_sprites().sprites) == {sprite.name}
            with pytest.raises(NotFoundError):
                scoped_client.get_sprite(other.name)
    finally:
        client.delete_sprite(other.name)
