"""CLI messages, context, configuration errors, and an unreachable ZooKeeper."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from claude_orchestrator.supervisor.zkserver import free_port
from tests.clihelp import BIN, Cli
from tests.helpers import wait_until


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def register(co: Cli, name: str, role: str = "dev") -> str:
    iid: str = co.ok("register", "--name", name, "--role", role)["id"]
    return iid


def test_send_to_name_role_and_broadcast(co: Cli) -> None:
    a, b = register(co, "a", "dev"), register(co, "b", "qa")
    assert co.ok("send-message", "--to-name", "a", "-m", "hi a")["count"] == 1
    assert co.ok("send-message", "--to-role", "qa", "-m", "hi qa")["count"] == 1
    assert co.ok("send-message", "--broadcast", "-m", "all")["count"] == 2
    got_a = co.ok("poll-messages", CO_INSTANCE_ID=a)
    assert [m["body"] for m in got_a] == ["hi a", "all"]
    assert co.ok("poll-messages", CO_INSTANCE_ID=a) == []
    assert len(co.ok("poll-messages", "--all", CO_INSTANCE_ID=a)) == 2
    assert [m["body"] for m in co.ok("poll-messages", CO_INSTANCE_ID=b)] == ["hi qa", "all"]


def test_send_to_unknown_name_is_an_error(co: Cli) -> None:
    r = co("send-message", "--to-name", "ghost", "-m", "x")
    assert r.code == 1 and "ghost" in r.err and r.out == ""


def test_send_needs_exactly_one_target(co: Cli) -> None:
    assert co("send-message", "-m", "x").code == 2
    assert co("send-message", "--broadcast", "--to-name", "a", "-m", "x").code == 2


def test_request_help_broadcasts_type_help(co: Cli) -> None:
    a = register(co, "a")
    b = register(co, "b")
    assert co.ok("request-help", "-m", "stuck", CO_INSTANCE_ID=a)["count"] == 1
    msgs = co.ok("poll-messages", CO_INSTANCE_ID=b)
    assert msgs[0]["type"] == "help" and msgs[0]["from"] == a


def test_dismiss_and_wait_timeout(co: Cli) -> None:
    a = register(co, "a")
    sent = co.ok("send-message", "--to", a, "-m", "x")["messages"][0]
    assert co.ok("dismiss-message", "--message-id", sent["id"])["status"] == "dismissed"
    assert co("dismiss-message", "--message-id", sent["id"]).code == 1
    waited = co.ok("wait-for-message", "--timeout", "0.2s")
    assert waited["status"] == "timeout" and waited["messages"] == []


def test_context_set_get_cas_delete(co: Cli) -> None:
    co.ok("push-task", "--title", "t")  # the team exists
    assert co.ok("get-context", "--key", "a/b") == {
        "key": "a/b",
        "value": None,
        "status": "not_found",
    }
    v0 = co.ok("set-context", "--key", "a/b", "--value", "one")
    assert v0["version"] == 0 and v0["updated_by"].startswith("operator@")
    assert (
        co.ok("set-context", "--key", "a/b", "--value", "two", "--if-version", "0")["version"] == 1
    )
    r = co("set-context", "--key", "a/b", "--value", "three", "--if-version", "0")
    assert r.code == 1 and "version 1, not 0" in r.err
    assert co.ok("get-context", "--key", "a/b")["value"] == "two"
    assert co.ok("set-context", "--key", "..", "--value", "-", input="from stdin")["value"] == (
        "from stdin"
    )
    assert co.ok("list-context-keys") == {"keys": ["..", "a/b"], "count": 2}
    assert co.ok("delete-context", "--key", "a/b")["deleted"] is True
    assert co.ok("delete-context", "--key", "a/b")["status"] == "not_found"


def test_config_needs_no_zookeeper(tmp_path: Path) -> None:
    co = Cli("127.0.0.1:1", tmp_path, team="t1")
    out = co.ok("config")
    assert out["team"] == "t1" and out["zookeeper"] == "127.0.0.1:1"


BAD_FILES = [
    ('[team]\nname = "x"\nwrk_dir = "."\n', "team.toml:3", "did you mean 'work_dir'"),
    ('[[worker]]\nname = "a"\nrestart = "sometimes"\n', "team.toml:3", "always"),
    ('[[worker]]\nname = "a"\n[[worker]]\nname = "a"\n', "team.toml:4", "duplicate"),
    ("[team\n", "team.toml:1", ""),
    ('[agents.claude]\ntimeout = "soon"\n', "team.toml:2", "duration"),
    ('[[worker]]\nname = "a"\nwork_dir = "missing"\n', "team.toml:3", "does not exist"),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD_FILES)
def test_bad_team_file_exits_2_naming_file_and_line(
    tmp_path: Path, text: str, where: str, what: str
) -> None:
    (tmp_path / "team.toml").write_text(text)
    r = Cli("127.0.0.1:1", tmp_path)("list-tasks")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: ") and where in r.err and what in r.err
    assert "Traceback" not in r.err


@pytest.mark.slow
def test_unreachable_zookeeper_exits_4_within_the_connect_timeout(tmp_path: Path) -> None:
    co = Cli(f"127.0.0.1:{free_port()}", tmp_path)
    start = time.monotonic()
    r = co.binary("list-tasks", "--connect-timeout", "1s")
    assert r.code == 4 and r.err.startswith("error: cannot reach ZooKeeper") and r.out == ""
    assert time.monotonic() - start < 8


@pytest.mark.slow
def test_binary_watch_tasks_prints_a_line_per_change(co: Cli) -> None:
    import os

    co.ok("set-context", "--key", "k", "--value", "v")  # the team exists
    proc = subprocess.Popen(
        [BIN, "watch-tasks", "--once"],
        cwd=co.cwd,
        text=True,
        stdout=subprocess.PIPE,
        env={**os.environ, **co.env},
    )
    try:

        def printed() -> bool:
            co.ok("push-task", "--title", "x")  # until the watcher is armed and sees one
            return proc.poll() is not None

        wait_until(printed, 20, "watch-tasks --once to print and exit")
        line = json.loads(proc.stdout.read().splitlines()[0])  # type: ignore[union-attr]
        assert line["id"].startswith("task-") and line["status"] == "pending"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_binary_watch_context_once_prints_the_next_change(co: Cli) -> None:
    import os

    co.ok("push-task", "--title", "t")  # the team exists
    proc = subprocess.Popen(
        [BIN, "watch-context", "--key", "k", "--once"],
        cwd=co.cwd,
        text=True,
        stdout=subprocess.PIPE,
        env={**os.environ, **co.env},
    )
    try:
        seen: list[str] = []

        def changed() -> bool:
            co.ok("set-context", "--key", "k", "--value", f"v{len(seen)}")
            seen.append("x")
            return proc.poll() is not None

        wait_until(changed, 20, "watch-context --once to exit")
        line = json.loads(proc.stdout.read().splitlines()[0])  # type: ignore[union-attr]
        assert line["key"] == "k" and line["value"].startswith("v")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_cli_poll_racing_a_consumer_takes_each_message_once(co: Cli, zk_hosts: str) -> None:
    import threading

    from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
    from claude_orchestrator.zk.team import Team

    iid = register(co, "inbox")
    client = connect(ZkOptions(zk_hosts))
    inboxes = Team(client, "test").inboxes
    for n in range(300):
        inboxes.send([iid], f"m{n}", "op", "info", time.time())
    consumed: list[str] = []

    def consume() -> None:  # what a worker does: take messages one by one
        while ids := inboxes.unread_ids(iid):
            for mid in ids:
                if (msg := inboxes.take(iid, mid, "consumer", time.time())) is not None:
                    consumed.append(msg["body"])

    thread = threading.Thread(target=consume)
    thread.start()
    polled: list[str] = []
    while thread.is_alive() or inboxes.unread_ids(iid):
        r = co.binary("poll-messages", CO_INSTANCE_ID=iid)
        assert r.code == 0, r.err
        polled += [m["body"] for m in json.loads(r.out)]
    thread.join()
    disconnect(client)
    assert sorted(consumed + polled) == sorted(f"m{n}" for n in range(300))


def test_ps_of_a_team_that_is_not_up_says_so_at_once(tmp_path: Path) -> None:
    (tmp_path / "team.toml").write_text('[team]\nname = "idle"\n')
    co = Cli("", tmp_path)
    co.env.update(ZK_HOSTS="", CO_TEAM="")  # empty counts as unset
    r = co("ps")
    assert r.code == 0 and "is not running" in r.out
    assert co("ps", "--json").out.strip() == "[]"
