"""Hob's MCP tools, driven by the real Python `mcp` client over stdio (`hob mcp`) and streamable HTTP (`POST /mcp`).

Run (as root, against a built binary):

    HOB_BIN=/path/to/hob python3 -m pytest compat/mcp -q
"""

from __future__ import annotations

import base64
import hashlib
import os
import time

import anyio
import httpx2
import mcp
import pytest
from mcp import MCPError
from mcp.client.streamable_http import streamable_http_client

from conftest import TRANSPORTS, api, http_client, mint_token, mint_token_with_cli, session, stdio_parameters

pytestmark = pytest.mark.anyio

TOOLS = {
    "list_sprites", "create_sprite", "get_sprite", "sleep_sprite", "fork_sprite", "destroy_sprite", "exec",
    "list_files", "read_file", "write_file", "create_checkpoint", "list_checkpoints", "restore_checkpoint",
    "list_services", "service_logs",
}
NOTES = "/root/notes.txt"
ORIGINAL = "the state worth keeping\n"


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def succeeded(result, call: str):
    """The result of a tool call that must have worked; its text is in the message when it did not."""
    assert not result.is_error, f"{call} failed: {text_of(result)}"
    return result


async def run(client, sprite: str, command: str, **extra):
    return await client.call_tool("exec", {"sprite": sprite, "command": command, **extra})


async def acceptance(client, name: str) -> None:
    """The scenario an agent follows: create, run, write, checkpoint, break, restore, read back."""
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS

    created = succeeded(await client.call_tool("create_sprite", {"name": name}), "create_sprite")
    assert created.structured_content["name"] == name

    ran = succeeded(await run(client, name, "python3 -c 'print(6*7)'"), "exec")
    assert "42" in text_of(ran)
    assert ran.structured_content["exit_code"] == 0
    assert ran.structured_content["stdout"] == "42\n"

    succeeded(await client.call_tool("write_file", {"sprite": name, "path": NOTES, "content": ORIGINAL}), "write_file")
    checkpoint = succeeded(await client.call_tool("create_checkpoint", {"sprite": name, "comment": "before"}), "create_checkpoint")
    checkpoint_id = checkpoint.structured_content["id"]
    assert checkpoint_id in text_of(checkpoint)

    listing = succeeded(await client.call_tool("list_checkpoints", {"sprite": name}), "list_checkpoints")
    assert checkpoint_id in [entry["id"] for entry in listing.structured_content["checkpoints"]]
    assert checkpoint_id in text_of(listing)

    succeeded(await run(client, name, f"rm {NOTES}"), "exec rm")
    assert (await client.call_tool("read_file", {"sprite": name, "path": NOTES})).is_error
    succeeded(await client.call_tool("write_file", {"sprite": name, "path": NOTES, "content": "garbage"}), "write_file")

    succeeded(await client.call_tool("restore_checkpoint", {"sprite": name, "checkpoint": checkpoint_id}), "restore_checkpoint")
    back = succeeded(await client.call_tool("read_file", {"sprite": name, "path": NOTES}), "read_file")
    assert back.structured_content["content"] == ORIGINAL
    assert back.structured_content["encoding"] == "utf8"


# --- the acceptance scenario ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_an_agent_creates_runs_checkpoints_breaks_and_restores_a_sprite(hob, new_name, kind):
    async with session(hob, kind) as client:
        await acceptance(client, new_name())


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_the_high_level_client_in_auto_mode_falls_back_from_discover_to_initialize(hob, sprite, kind):
    """mcp.Client probes `server/discover` first; Hob answers it with an error at once, and the handshake follows."""
    async with http_client(hob.token) as http:
        target = stdio_parameters(hob) if kind == "stdio" else streamable_http_client(hob.mcp_url, http_client=http)
        started = time.monotonic()
        async with mcp.Client(target) as client:
            connected = time.monotonic() - started
            print(f"[mcp] mcp.Client over {kind} connected in auto mode in {connected:.2f} s "
                  f"(protocol {client.protocol_version})")
            assert client.server_info.name == "hob"
            ran = succeeded(await run(client, sprite, "echo hello"), "exec")
            assert ran.structured_content["stdout"] == "hello\n"


async def test_the_tools_are_described_for_a_model(hob):
    async with session(hob, "http") as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description, f"{tool.name} has no description"
        assert tool.input_schema["type"] == "object", tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"


# --- scope: the tools act as the token --------------------------------------------------------------------------------


async def test_a_token_for_one_sprite_with_exec_only_runs_commands_there_and_nothing_else(hob, new_name):
    mine, other = new_name(), new_name()
    for name in (mine, other):
        status, body = api(hob, "POST", "/v1/sprites", {"name": name})
        assert status == 201, body
    token, token_id = mint_token(hob, sprites=[mine], ops=["exec"])

    async with session(hob, "http", token) as client:
        ran = succeeded(await run(client, mine, "hostname"), "exec in the token's sprite")
        assert ran.structured_content["exit_code"] == 0

        elsewhere = await run(client, other, "hostname")
        assert elsewhere.is_error
        assert "not found" in text_of(elsewhere)

        destroyed = await client.call_tool("destroy_sprite", {"sprite": mine})
        assert destroyed.is_error
        assert "may not lifecycle" in text_of(destroyed) and "403" in text_of(destroyed)

        listed = await client.call_tool("list_sprites", {})
        assert listed.is_error

    status, _ = api(hob, "GET", f"/v1/sprites/{mine}")
    assert status == 200, "destroy_sprite with an exec-only token must leave the sprite"

    status, events = api(hob, "GET", f"/v1/events?token={token_id}&limit=50")
    assert status == 200, events
    actions = [event.get("action", "") for event in events["events"]]
    assert any(f"/v1/sprites/{mine}/exec" in action for action in actions), f"the exec is not in the audit log: {actions}"
    assert any(action.startswith("DELETE") for action in actions), f"the refused destroy is not in the audit log: {actions}"


async def test_a_scoped_token_over_stdio_is_limited_the_same_way(hob, sprite):
    token = mint_token_with_cli(hob, "--sprite", sprite, "--ops", "exec", "--ttl", "10m")
    async with session(hob, "stdio", token) as client:
        succeeded(await run(client, sprite, "true"), "exec in the token's sprite")
        assert (await client.call_tool("destroy_sprite", {"sprite": sprite})).is_error


def test_the_http_endpoint_refuses_a_request_without_a_token_or_with_a_bad_one(hob):
    for headers in ({}, {"Authorization": "Bearer hob_not-a-token"}, {"Authorization": f"Bearer {hob.org}/tok_x/AAAA"}):
        response = post_mcp(hob, initialize_message(), headers=headers, token=None)
        assert response.status_code == 401, (headers, response.text)


# --- limits and failures --------------------------------------------------------------------------------------------


async def test_a_command_past_its_timeout_is_killed_and_reported_as_timed_out(hob, sprite):
    async with session(hob, "http") as client:
        started = time.monotonic()
        result = await run(client, sprite, "echo started; sleep 30", timeout_seconds=2)
        took = time.monotonic() - started
    assert result.is_error
    assert result.structured_content["timed_out"] is True
    assert result.structured_content["stdout"] == "started\n", "the output before the kill is kept"
    assert "timed out" in text_of(result)
    assert took < 15, f"exec with timeout_seconds=2 took {took:.1f} s"


async def test_output_past_max_output_bytes_keeps_its_beginning_and_end(hob, sprite):
    async with session(hob, "http") as client:
        result = succeeded(await run(client, sprite, "yes | head -c 5000000; echo END", max_output_bytes=4096), "exec")
    out = result.structured_content
    assert out["truncated"] is True
    assert out["exit_code"] == 0
    assert out["stdout"].startswith("y\ny\n")
    assert out["stdout"].endswith("END\n")
    assert "bytes left out" in out["stdout"]
    assert len(out["stdout"].encode()) < 4096 + 100


async def test_the_default_output_cap_is_64_kib(hob, sprite):
    async with session(hob, "http") as client:
        result = succeeded(await run(client, sprite, "yes | head -c 5000000"), "exec")
    assert result.structured_content["truncated"] is True
    assert 64 * 1024 <= len(result.structured_content["stdout"]) < 64 * 1024 + 100


async def test_a_failing_command_is_a_result_with_its_exit_code_not_an_error(hob, sprite):
    async with session(hob, "http") as client:
        result = await run(client, sprite, "echo oops >&2; exit 3")
    assert not result.is_error
    assert result.structured_content["exit_code"] == 3
    assert result.structured_content["stderr"] == "oops\n"


async def test_exec_takes_stdin_env_and_cwd(hob, sprite):
    async with session(hob, "http") as client:
        result = succeeded(
            await run(client, sprite, 'cat; echo "$GREETING"; pwd', stdin="from stdin\n", env={"GREETING": "hi"}, cwd="/tmp"),
            "exec")
    assert result.structured_content["stdout"] == "from stdin\nhi\n/tmp\n"


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_an_unknown_tool_is_a_protocol_error(hob, kind):
    async with session(hob, kind) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
    assert raised.value.code == -32602
    assert "no_such_tool" in str(raised.value)


async def test_a_missing_required_argument_is_a_protocol_error(hob, sprite):
    async with session(hob, "http") as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("exec", {"sprite": sprite})
    assert raised.value.code == -32602
    assert "command is required" in str(raised.value)


async def test_a_misspelt_argument_is_refused_not_dropped(hob, sprite):
    async with session(hob, "http") as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("exec", {"sprite": sprite, "command": "sleep 1", "timeout": 5})
    assert raised.value.code == -32602
    assert "no argument named timeout" in str(raised.value)
    assert "timeout_seconds" in str(raised.value)


async def test_an_argument_out_of_range_is_a_protocol_error(hob, sprite):
    async with session(hob, "http") as client:
        with pytest.raises(MCPError) as raised:
            await run(client, sprite, "true", timeout_seconds=281)
    assert raised.value.code == -32602
    assert "timeout_seconds" in str(raised.value)


async def test_a_sprite_that_does_not_exist_is_a_tool_error(hob):
    async with session(hob, "http") as client:
        result = await run(client, "mcp-no-such-sprite", "true")
    assert result.is_error
    assert "not found" in text_of(result)


async def test_reading_a_missing_file_is_a_tool_error(hob, sprite):
    async with session(hob, "http") as client:
        result = await client.call_tool("read_file", {"sprite": sprite, "path": "/root/no-such-file"})
    assert result.is_error
    assert "no such file" in text_of(result)


async def test_binary_content_written_as_base64_reads_back_as_base64(hob, sprite):
    payload = bytes(range(256)) * 4
    encoded = base64.b64encode(payload).decode()
    async with session(hob, "http") as client:
        written = succeeded(await client.call_tool(
            "write_file", {"sprite": sprite, "path": "/root/blob.bin", "content": encoded, "encoding": "base64", "mode": "600"}),
            "write_file")
        assert written.structured_content["size"] == len(payload)
        read = succeeded(await client.call_tool("read_file", {"sprite": sprite, "path": "/root/blob.bin"}), "read_file")
        mode = succeeded(await run(client, sprite, "stat -c %a /root/blob.bin"), "exec stat")
    assert read.structured_content["encoding"] == "base64"
    assert base64.b64decode(read.structured_content["content"]) == payload
    assert read.structured_content["truncated"] is False
    assert mode.structured_content["stdout"] == "600\n"


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_file_of_a_few_mib_is_written_in_seconds(hob, sprite, kind):
    """write_file's content is one JSON-RPC message of several MiB (base64); /mcp takes up to 16 MiB."""
    payload = os.urandom(3 << 20)
    async with session(hob, kind) as client:
        started = time.monotonic()
        with anyio.fail_after(60):
            written = succeeded(await client.call_tool("write_file", {
                "sprite": sprite, "path": "/root/big.bin", "content": base64.b64encode(payload).decode(), "encoding": "base64"}),
                "write_file")
        print(f"[mcp] a 3 MiB write_file over {kind} took {time.monotonic() - started:.2f} s")
        digest = succeeded(await run(client, sprite, "sha256sum < /root/big.bin"), "exec sha256sum")
    assert written.structured_content["size"] == len(payload)
    assert digest.structured_content["stdout"].split()[0] == hashlib.sha256(payload).hexdigest()


async def test_text_that_looks_like_a_data_url_is_written_as_is(hob, sprite):
    """The Swift SDK decodes `data:…;base64,…` strings eagerly; the tool must still write the text that was sent."""
    content = "data:text/plain;base64,aGVsbG8="
    async with session(hob, "http") as client:
        succeeded(await client.call_tool("write_file", {"sprite": sprite, "path": "/root/url.txt", "content": content}), "write_file")
        read = succeeded(await client.call_tool("read_file", {"sprite": sprite, "path": "/root/url.txt"}), "read_file")
    assert read.structured_content["content"] == content


async def test_read_file_stops_at_max_bytes_and_says_so(hob, sprite):
    async with session(hob, "http") as client:
        succeeded(await run(client, sprite, "head -c 5000 /dev/zero | tr '\\0' a > /root/long.txt"), "exec")
        read = succeeded(await client.call_tool("read_file", {"sprite": sprite, "path": "/root/long.txt", "max_bytes": 100}), "read_file")
    assert read.structured_content["content"] == "a" * 100
    assert read.structured_content["truncated"] is True


async def test_list_files_shows_what_write_file_made(hob, sprite):
    async with session(hob, "http") as client:
        succeeded(await client.call_tool("write_file", {"sprite": sprite, "path": "/root/dir/sub/a.txt", "content": "a"}), "write_file")
        listed = succeeded(await client.call_tool("list_files", {"sprite": sprite, "path": "/root/dir", "recursive": True}), "list_files")
    entries = {entry["path"]: entry for entry in listed.structured_content["entries"]}
    assert entries["/root/dir/sub/a.txt"]["size"] == 1
    assert entries["/root/dir/sub"]["type"] == "directory"
    text = text_of(listed)
    for path, entry in entries.items():
        line = next((line for line in text.splitlines() if line.endswith(f"  {path}")), None)
        assert line is not None, f"{path} is not in the listing's text:\n{text}"
        assert line.split()[0] == entry["type"], f"the text names the type of {path} as {line.split()[0]!r}, not {entry['type']!r}"


# --- sprites: fork, sleep, destroy ----------------------------------------------------------------------------------


async def test_a_fork_from_a_checkpoint_has_the_checkpoints_content(hob, sprite, new_name):
    fork = new_name()
    async with session(hob, "http") as client:
        succeeded(await client.call_tool("write_file", {"sprite": sprite, "path": NOTES, "content": "at v1"}), "write_file")
        checkpoint_id = succeeded(await client.call_tool("create_checkpoint", {"sprite": sprite}), "create_checkpoint").structured_content["id"]
        succeeded(await client.call_tool("write_file", {"sprite": sprite, "path": NOTES, "content": "later"}), "write_file")

        forked = succeeded(await client.call_tool(
            "fork_sprite", {"source": sprite, "name": fork, "checkpoint": checkpoint_id}), "fork_sprite")
        assert forked.structured_content["name"] == fork
        in_fork = succeeded(await client.call_tool("read_file", {"sprite": fork, "path": NOTES}), "read_file in the fork")
        in_source = succeeded(await client.call_tool("read_file", {"sprite": sprite, "path": NOTES}), "read_file in the source")
    assert in_fork.structured_content["content"] == "at v1"
    assert in_source.structured_content["content"] == "later"


async def test_a_sprite_put_to_sleep_cold_wakes_for_the_next_command(hob, sprite):
    async with session(hob, "http") as client:
        succeeded(await run(client, sprite, "true"), "exec")
        slept = succeeded(await client.call_tool("sleep_sprite", {"sprite": sprite, "state": "cold"}), "sleep_sprite")
        assert slept.structured_content["status"] == "cold"
        woken = succeeded(await run(client, sprite, "echo awake"), "exec after sleep")
        assert woken.structured_content["stdout"] == "awake\n"
        info = succeeded(await client.call_tool("get_sprite", {"sprite": sprite}), "get_sprite")
    assert info.structured_content["status"] == "running"


async def test_a_destroyed_sprite_is_gone(hob, new_name):
    name = new_name()
    async with session(hob, "http") as client:
        succeeded(await client.call_tool("create_sprite", {"name": name}), "create_sprite")
        listed = succeeded(await client.call_tool("list_sprites", {"prefix": name}), "list_sprites")
        assert [entry["name"] for entry in listed.structured_content["sprites"]] == [name]
        succeeded(await client.call_tool("destroy_sprite", {"sprite": name}), "destroy_sprite")
        gone = await client.call_tool("get_sprite", {"sprite": name})
    assert gone.is_error
    assert "not found" in text_of(gone)


async def test_a_sprite_without_services_lists_none(hob, sprite):
    async with session(hob, "http") as client:
        listed = succeeded(await client.call_tool("list_services", {"sprite": sprite}), "list_services")
    assert listed.structured_content["services"] == []


# --- the HTTP endpoint itself -----------------------------------------------------------------------------------------


def initialize_message(message_id: int = 1) -> dict:
    return {
        "jsonrpc": "2.0", "id": message_id, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "compat", "version": "0"}},
    }


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def post_mcp(hob, body, headers=None, token: str | None = "admin"):
    """One POST to /mcp with plain httpx2: the admin token unless `token` is None, MCP's headers unless replaced."""
    sent = dict(MCP_HEADERS)
    if token is not None:
        sent["Authorization"] = f"Bearer {hob.token if token == 'admin' else token}"
    sent.update(headers or {})
    content = body if isinstance(body, (bytes, str)) else httpx2.Request("POST", "http://x", json=body).content
    with httpx2.Client(timeout=30, trust_env=False) as client:
        return client.post(hob.mcp_url, content=content, headers=sent)


def test_a_post_gets_one_json_answer_and_no_session(hob):
    response = post_mcp(hob, initialize_message())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in response.headers
    assert response.json()["result"]["serverInfo"]["name"] == "hob"


def test_a_tool_call_needs_no_initialize_before_it(hob):
    response = post_mcp(hob, {"jsonrpc": "2.0", "id": 7, "method": "tools/list"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == 7
    assert len(response.json()["result"]["tools"]) == len(TOOLS)


def test_a_notification_gets_202(hob):
    response = post_mcp(hob, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_are_not_allowed(hob, method):
    with httpx2.Client(timeout=30, trust_env=False) as client:
        response = client.request(method, hob.mcp_url, headers={"Authorization": f"Bearer {hob.token}", "Accept": "text/event-stream"})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"


def test_a_request_from_another_origin_is_refused(hob):
    response = post_mcp(hob, initialize_message(), headers={"Origin": "http://evil.example"})
    assert response.status_code == 403, response.text


def test_a_request_from_the_servers_own_origin_is_accepted(hob):
    response = post_mcp(hob, initialize_message(), headers={"Origin": hob.base_url})
    assert response.status_code == 200, response.text


def test_malformed_json_gets_a_json_rpc_parse_error(hob):
    response = post_mcp(hob, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == -32700


def test_a_post_that_does_not_accept_json_is_refused(hob):
    response = post_mcp(hob, initialize_message(), headers={"Accept": "text/event-stream"})
    assert 400 <= response.status_code < 500, response.text


def test_a_post_that_is_not_json_is_refused(hob):
    response = post_mcp(hob, initialize_message(), headers={"Content-Type": "text/plain"})
    assert 400 <= response.status_code < 500, response.text


def test_a_body_over_16_mib_is_refused_as_too_large(hob):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "write_file", "arguments": {"sprite": "mcp-none", "path": "/x", "content": "a" * (17 << 20)}}}
    response = post_mcp(hob, message)
    assert response.status_code == 413, response.text


def test_an_unknown_protocol_version_header_is_refused(hob):
    response = post_mcp(hob, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={"MCP-Protocol-Version": "1999-01-01"})
    assert response.status_code == 400, response.text
