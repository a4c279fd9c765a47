"""Control requests (supervisor/control.py, control_schema.py, commands.py): every request is
checked against its command's schema and answered, a bad one never blocks later ones, and
replies nobody collects are pruned. Against a real ZooKeeper and a real in-process supervisor."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from claude_orchestrator.conf.team import team_from_defaults
from claude_orchestrator.supervisor import commands
from claude_orchestrator.supervisor import events as ev
from claude_orchestrator.supervisor.arbiter import Supervisor
from claude_orchestrator.supervisor.commands import parse_request
from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.supervisor.control import REPLY_TTL_S, ControlClient, ControlServer
from claude_orchestrator.supervisor.control_schema import BadRequestError, Request
from claude_orchestrator.supervisor.effects import Outcome
from claude_orchestrator.zk.client import ZkOptions
from tests.helpers import wait_until

TEAM = "test"


def body(command: Any, **args: Any) -> bytes:
    return json.dumps({"command": command, "args": args, "at": 0}).encode()


# -- the schema ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not a JSON object"),
        (body("explode"), "unknown command 'explode'; known: up, restart, reload, down, ping"),
        (body("restart", workers="ann"), "workers: expected a list of worker names, got a string"),
        (body("up", workers=["ann", 3]), "workers: 3 is not a worker name"),
        (body("restart", workers=["../etc"]), "workers: '../etc' is not a worker name"),
        (body("restart", workers=["ann\n"]), "is not a worker name"),
        (body("down", timeout="soon"), "timeout: expected a number of seconds, got a string"),
        (body("down", timeout=True), "timeout: expected a number of seconds, got a boolean"),
        (body("down", timeout=0), "timeout: must be more than 0 and at most 3600 seconds"),
        (body("down", timeout=-5), "must be more than 0"),
        (body("down", timeout=1e9), "at most 3600 seconds"),
        (b'{"command": "down", "args": {"timeout": NaN}}', "must be more than 0"),
        (body("down", workers=["ann"]), "unknown argument of 'down' workers (valid: timeout)"),
        (body("reload", force=True), "unknown argument of 'reload' force (valid: none)"),
        (b'{"command": "ping", "args": []}', "args: expected an object, got a list"),
        (b'{"command": "ping", "sudo": 1}', "unknown key sudo"),
    ],
)
def test_parse_request_refuses_what_its_schema_does_not_allow(data: bytes, message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_request(data)
    assert message in str(caught.value)


def test_parse_request_reads_each_commands_arguments() -> None:
    assert parse_request(body("restart", workers=["ann", "bob", "ann"])) == Request(
        "restart", workers=("ann", "bob")
    )
    assert parse_request(body("down", timeout=2.5)) == Request("down", timeout=2.5)
    assert parse_request(body("down")) == Request("down")
    assert parse_request(b'{"command": "reload"}') == Request("reload")


def test_client_refuses_bad_arguments_before_writing(client: KazooClient) -> None:
    control = ControlClient(client, TEAM)
    with pytest.raises(BadRequestError, match="workers: expected a list of worker names"):
        control.request("restart", {"workers": "ann"}, 1.0)
    with pytest.raises(BadRequestError, match="timeout: must be more than 0"):
        control.request("down", {"timeout": 0.0}, 1.0)
    assert client.exists(control.folder) is None


# -- the executor, in a running supervisor ---------------------------------------


@pytest.fixture
def supervisor(zk_hosts: str, tmp_path: Path) -> Iterator[Supervisor]:
    cfg = SupervisorConfig(
        team=team_from_defaults(tmp_path),
        team_name=TEAM,
        team_file=None,
        zk=ZkOptions(zk_hosts),
        spawn_workers=False,
    )
    sup = Supervisor(cfg)
    thread = threading.Thread(target=sup.run, daemon=True)
    thread.start()
    wait_until(lambda: sup.ready_sent, what="the supervisor to come up")
    yield sup
    sup.post(ev.SignalReceived(ev.Signal.TERM))
    thread.join(10)
    assert not thread.is_alive(), "the supervisor did not stop"


def write_request(client: KazooClient, data: bytes) -> str:
    folder = ControlClient(client, TEAM).folder
    client.ensure_path(folder)
    path: str = client.create(f"{folder}/req-", data, sequence=True)
    return path


def await_reply(client: KazooClient, req_path: str) -> dict[str, Any]:
    reply_path = req_path.replace("/req-", "/reply-")
    wait_until(lambda: client.exists(reply_path), what=f"a reply at {reply_path}")
    data, _ = client.get(reply_path)
    reply: dict[str, Any] = json.loads(data)
    return reply


def test_malformed_requests_are_answered_and_later_ones_still_run(
    supervisor: Supervisor, client: KazooClient
) -> None:
    garbage = write_request(client, b"not json")
    bad_timeout = write_request(client, body("down", timeout="soon"))
    reply = ControlClient(client, TEAM).request("ping", {}, 10.0)
    assert reply["pong"] is True
    assert "not a JSON object" in await_reply(client, garbage)["error"]
    assert "timeout: expected a number" in await_reply(client, bad_timeout)["error"]
    assert client.exists(garbage) is None and client.exists(bad_timeout) is None
    assert not supervisor.stopping  # the bad 'down' did nothing


def test_workers_given_as_a_string_is_refused_not_split(
    supervisor: Supervisor, client: KazooClient
) -> None:
    req = write_request(client, body("restart", workers="ann"))
    reply = await_reply(client, req)
    assert reply == {
        "error": "bad control request: workers: expected a list of worker names, got a string"
    }


def test_a_command_that_raises_is_answered_with_an_error(
    supervisor: Supervisor, client: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(_self: commands.Command, _target: Supervisor, _request: Request) -> Outcome:
        raise KeyError("slot")

    monkeypatch.setattr(commands.Reload, "execute", boom)
    control = ControlClient(client, TEAM)
    assert control.request("reload", {}, 10.0) == {"error": "reload failed: KeyError: 'slot'"}
    assert control.request("ping", {}, 10.0)["pong"] is True


def test_client_deletes_its_reply_after_reading(
    supervisor: Supervisor, client: KazooClient
) -> None:
    control = ControlClient(client, TEAM)
    control.request("ping", {}, 10.0)
    assert client.get_children(control.folder) == []


# -- pruning ----------------------------------------------------------------------


def test_uncollected_replies_are_pruned_after_their_ttl(client: KazooClient) -> None:
    now = [1000.0]
    server = ControlServer(client, TEAM, notify=lambda: None, clock=lambda: now[0])
    server.arm()
    old = client.create(f"{server.folder}/reply-0000000001", b"{}")
    assert server.pending() == []
    now[0] += REPLY_TTL_S - 1
    server.pending()
    assert client.exists(old) is not None  # its client may still be about to read it
    late = client.create(f"{server.folder}/reply-0000000002", b"{}")
    now[0] += 2
    server.pending()
    assert client.exists(old) is None
    assert client.exists(late) is not None
    now[0] += REPLY_TTL_S + 1
    server.pending()
    assert client.get_children(server.folder) == []
