"""The seed's commands, flags and output fields, verbatim (issue 8 §4); real ZooKeeper."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.cli.cmd_run import run_worker_names
from tests import test_cli_misc
from tests.clihelp import BIN, Cli
from tests.helpers import wait_until

co = test_cli_misc.co  # the fixture: a Cli on the test's ZooKeeper in a temporary project
register = test_cli_misc.register

SEED_MESSAGE_FIELDS = {
    "id",
    "type",
    "content",
    "from_instance",
    "from_name",
    "from_role",
    "to_instance",
    "to_name",
    "created_at",
    "read",
}


def test_send_message_content_carries_the_seed_fields(co: Cli) -> None:
    tom, jerry = register(co, "tom", "leader"), register(co, "jerry", "builder")
    out = co.ok("send-message", "--to-name", "jerry", "--content", "build it", "-i", tom)
    assert out["sent_to"] == [jerry] and out["message_count"] == 1
    sent = out["messages"][0]
    assert set(sent) >= SEED_MESSAGE_FIELDS and sent["read"] is False
    assert sent["type"] == "direct"
    got = co.ok("poll-messages", "-i", jerry)[0]
    assert set(got) >= SEED_MESSAGE_FIELDS
    assert (got["content"], got["from_instance"], got["from_name"], got["from_role"]) == (
        "build it",
        tom,
        "tom",
        "leader",
    )
    assert (got["to_instance"], got["to_name"], got["read"]) == (jerry, "jerry", True)
    assert got["body"] == "build it" and got["from"] == tom  # the earlier names stay
    assert co.ok("poll-message", "--all", "-i", jerry)[0]["read"] is True


def test_operator_message_has_no_sender_instance(co: Cli) -> None:
    register(co, "bob")
    (co.cwd / ".claude-orchestrator" / "config.json").unlink()  # forget the saved identity
    sent = co.ok("send-message", "--to-name", "bob", "-m", "hi")["messages"][0]
    assert sent["from_instance"] is None and sent["from_name"].startswith("operator@")


def test_request_help_takes_question_and_context(co: Cli) -> None:
    jerry, bob = register(co, "jerry"), register(co, "bob", "tester")
    args = ("request-help", "--question", "how?", "--context", "tried X")
    assert co.ok(*args, "-i", jerry)["sent_to"] == [bob]
    msg = co.ok("poll-messages", "-i", bob)[0]
    assert msg["type"] == "help" and msg["content"] == "how?\n\nContext:\ntried X"


def test_delete_message_is_dismiss_message(co: Cli) -> None:
    bob = register(co, "bob")
    mid = co.ok("send-message", "--to", bob, "-m", "x")["messages"][0]["id"]
    out = co.ok("delete-message", "--message-id", mid, "-i", bob)
    assert out["status"] == "dismissed" and out["message_id"] == mid
    assert co.ok("poll-message", "-i", bob) == []
    waited = co.ok("wait-for-message", "--timeout", "0.1s", "-i", bob)
    assert waited["status"] == "timeout" and waited["message"]


def test_to_name_takes_the_seeds_at_name_and_all(co: Cli) -> None:
    bob, tom = register(co, "bob"), register(co, "tom")
    assert co.ok("send-message", "--to-name", "@bob", "--content", "x")["sent_to"] == [bob]
    everyone = co.ok("send-message", "--to-name", "all", "--content", "y")
    assert sorted(everyone["sent_to"]) == sorted([bob, tom])
    assert {m["type"] for m in everyone["messages"]} == {"broadcast"}
    out = co.ok("unregister", "-i", bob)
    assert out["status"] == "unregistered" and out["instance_id"] == bob


def test_context_keys_and_delete_answer_as_the_seed(co: Cli) -> None:
    co.ok("set-context", "--key", "spec", "--value", "v")
    assert co.ok("list-context-keys") == {"keys": ["spec"], "count": 1}
    out = co.ok("delete-context", "--key", "spec")
    assert out["key"] == "spec" and out["status"] == "deleted"
    assert co.ok("list-context-keys") == {"keys": [], "count": 0}


def test_heartbeat_and_status_answer_as_the_seed(co: Cli) -> None:
    jerry = register(co, "jerry")
    beat = co.ok("heartbeat", "-i", jerry)
    assert beat["status"] == "ok" and beat["instance_id"] == jerry
    status = co.ok("status", "-i", jerry)
    assert status["status"] == "healthy" and status["zookeeper"] == "connected"
    assert status["instances_online"] == 1 and status["registered"] is True
    co.ok("register", "--name", "brief", "--lease", "1s")
    wait_until(lambda: co.ok("status")["status"] == "degraded", 5, "an expired lease")


def test_claim_with_nothing_says_so_in_a_message(co: Cli) -> None:
    jerry = register(co, "jerry")
    out = co.ok("claim-task", "-i", jerry)
    assert out["status"] == "no_tasks" and out["message"]


def _blocked_task(co: Cli, claimer: str) -> str:
    task_id: str = co.ok("push-task", "--title", "t")["id"]
    assert co.ok("claim-task", "-i", claimer)["id"] == task_id
    co.ok("task-block", "--task-id", task_id, "--reason", "need an answer", "-i", claimer)
    return task_id


def test_claimer_completes_a_task_it_blocked(co: Cli) -> None:
    jerry, bob = register(co, "jerry"), register(co, "bob")
    task_id = _blocked_task(co, jerry)
    r = co("complete-task", "--task-id", task_id, "--result", "x", "-i", bob)
    assert r.code == 3 and "claimed by" in r.err
    assert co("complete-task", "--task-id", task_id).code == 3  # the operator neither
    done = co.ok("complete-task", "--task-id", task_id, "--result", "done", "-i", jerry)
    assert done["status"] == "completed" and done["result"] == "done"


def test_claimer_unblocks_its_task_back_in_progress(co: Cli) -> None:
    jerry = register(co, "jerry")
    task_id = _blocked_task(co, jerry)
    back = co.ok("task-unblock", "--task-id", task_id, "-i", jerry)
    assert back["status"] == "in_progress" and back["claimed_by"] == jerry
    assert co.ok("complete-task", "--task-id", task_id, "-i", jerry)["status"] == "completed"


def test_anyone_else_unblocks_to_the_queue(co: Cli) -> None:
    jerry, bob = register(co, "jerry"), register(co, "bob")
    task_id = _blocked_task(co, jerry)
    back = co.ok("task-unblock", "--task-id", task_id, "-i", bob)
    assert back["status"] == "pending" and back["claimed_by"] is None
    co.ok("cancel-task", "--task-id", task_id)
    task_id = _blocked_task(co, jerry)
    assert co.ok("task-unblock", "--task-id", task_id)["status"] == "pending"


def test_poll_task_and_blocked_by_comma_lists(co: Cli) -> None:
    a = co.ok("push-task", "--title", "a")["id"]
    b = co.ok("push-task", "--title", "b")["id"]
    c = co.ok("push-task", "--title", "c", "--blocked-by", f"{a},{b}")
    assert c["depends_on"] == [a, b] and c["ready"] is False
    d = co.ok("push-task", "--title", "d", "--depends-on", f"{a}, {b}", "--depends-on", c["id"])
    assert d["depends_on"] == [a, b, c["id"]]
    assert co.ok("poll-task") == co.ok("list-tasks")
    assert [t["title"] for t in co.ok("poll-task", "--status", "pending")] == ["a", "b", "c", "d"]


def test_setup_answers_configured_and_writes_command_and_cache_dir(co: Cli) -> None:
    out = co.ok("setup", "--name", "tom", "--command", "claude --fast", "--cache-dir", "/tmp/c")
    assert out["status"] == "configured"
    home = json.loads((co.cwd / ".claude-orchestrator" / "config.json").read_text())
    assert home["command"] == "claude --fast" and home["cache_dir"] == "/tmp/c"


def _popen(co: Cli, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **co.env}
    return subprocess.Popen([BIN, *args], cwd=co.cwd, text=True, stdout=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_watch_context_returns_after_the_first_change_by_default(co: Cli) -> None:
    co.ok("push-task", "--title", "t")  # the team exists
    proc = _popen(co, "watch-context", "--key", "k")
    try:
        n = [0]

        def changed() -> bool:
            n[0] += 1
            co.ok("set-context", "--key", "k", "--value", f"v{n[0]}")
            return proc.poll() is not None

        wait_until(changed, 20, "watch-context to return")
        lines = proc.stdout.read().splitlines()  # type: ignore[union-attr]
        assert proc.returncode == 0 and len(lines) == 1
        assert json.loads(lines[0])["value"].startswith("v")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_watch_tasks_follow_streams(co: Cli) -> None:
    import threading

    co.ok("set-context", "--key", "k", "--value", "v")  # the team exists
    proc = _popen(co, "watch-tasks", "--follow")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:

        def two_lines() -> bool:
            co.ok("push-task", "--title", "x")  # until the watcher is armed and sees two
            return len(lines) >= 2

        wait_until(two_lines, 20, "two lines from watch-tasks --follow")
        assert proc.poll() is None  # still watching
        assert all(json.loads(line)["status"] == "pending" for line in lines)
    finally:
        proc.kill()
        proc.wait()


def test_follow_and_once_are_one_switch(co: Cli) -> None:
    assert co("watch-tasks", "--help").out.count("--follow / --once") == 1


def test_run_names_the_seeds_workers() -> None:
    assert run_worker_names(1) == [("Tom", "planner")]
    names = run_worker_names(7)
    assert names == [
        ("Tom", "planner"),
        ("Jerry", "builder"),
        ("Lucy", "verifier"),
        ("Thomas", "reviewer"),
        ("Jack", "accepter"),
        ("Lisa", "builder"),
        ("Alice", "builder"),
    ]
    assert run_worker_names(22)[-2:] == [("worker-21", "builder"), ("worker-22", "builder")]


def test_run_refuses_beside_a_team_file_and_asks_without_y(tmp_path: Path) -> None:
    co = Cli("127.0.0.1:1", tmp_path)
    assert co("run", "--worker", "2").code == 2  # no terminal to ask on: needs -y
    (tmp_path / "team.toml").write_text('[team]\nname = "x"\n')
    r = co("run", "--worker", "2", "-y", CO_TEAM_FILE=str(tmp_path / "team.toml"))
    assert r.code == 2 and "use 'up'" in r.err


def _project_cli(root: Path, path: str) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    env.update(PATH=path, CO_INSTANCE_ID="", CO_TEAM_FILE="")

    def call(*args: str) -> Any:
        p = subprocess.run([BIN, *args], cwd=root, env=env, capture_output=True, text=True)
        assert p.returncode == 0, f"{args}: {p.stderr}"
        return json.loads(p.stdout)

    return call, env


@pytest.mark.slow
def test_run_brings_up_the_seeds_workers_here_without_a_team_file(tmp_path: Path) -> None:
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    agent = Path(__file__).with_name("fake_agent.py")
    (bin_dir / "claude").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{agent}" "$@"\n')
    (bin_dir / "claude").chmod(0o755)
    call, env = _project_cli(tmp_path, f"{bin_dir}:{os.environ['PATH']}")
    argv = [BIN, "run", "--worker", "2", "-y", "--no-tui"]
    with open(tmp_path / "run.out", "w") as out:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=out)
    import threading

    threading.Thread(target=proc.wait, daemon=True).start()  # reaped at once: `down` waits
    try:

        def up() -> dict[str, Any]:
            rows = {r["name"]: r for r in call("ps", "--json")}
            ok = all(rows.get(n, {}).get("state") == "running" for n in ("Tom", "Jerry"))
            return rows if ok else {}

        rows = wait_until(up, 30, "Tom and Jerry running")
        assert (rows["Tom"]["role"], rows["Jerry"]["role"]) == ("planner", "builder")
        task_id = call("push-task", "--title", "hello")["id"]
        done = lambda: call("show-task", "--task-id", task_id)["status"] == "completed"  # noqa: E731
        wait_until(done, 30, "the task completed by a run worker")
        assert call("down", "--timeout", "5s")["supervisor"] == "stopped"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_transition_table_lets_only_the_claimer_leave_blocked_for_work() -> None:
    from claude_orchestrator.errors import TaskStateError
    from claude_orchestrator.zk.taskmodel import (
        OWNER_ACTIONS,
        Action,
        Change,
        apply,
        new_record,
        unblock_action,
    )

    rec = new_record({"title": "t"}, "task-0000000001", "op", "t0")
    rec = apply(rec, Change(Action.CLAIM, by="j", at="t1", claimer="j-1"))
    blocked = apply(rec, Change(Action.BLOCK, by="j-1", at="t2", reason="why"))
    assert {Action.COMPLETE, Action.RESUME} <= OWNER_ACTIONS  # fenced: the claimer only
    assert unblock_action(blocked, "j-1") is Action.RESUME
    assert unblock_action(blocked, "b-2") is Action.UNBLOCK
    assert unblock_action(blocked, None) is Action.UNBLOCK
    resumed = apply(blocked, Change(Action.RESUME, by="j-1", at="t3"))
    assert (resumed.status, resumed.claimed_by, resumed.started_at) == (
        "in_progress",
        "j-1",
        "t3",
    )
    assert apply(blocked, Change(Action.COMPLETE, by="j-1", at="t3")).status == "completed"
    with pytest.raises(TaskStateError):
        apply(blocked, Change(Action.FAIL, by="j-1", at="t3"))  # other paths unchanged
    with pytest.raises(TaskStateError):
        apply(resumed, Change(Action.RESUME, by="j-1", at="t4"))


def test_every_command_the_skill_file_names_takes_the_flags_it_shows() -> None:
    import re

    import click

    from claude_orchestrator.cli.main import cli
    from claude_orchestrator.cli.skill import SKILL

    ctx = click.Context(cli)
    shown = re.findall(r"`(?:claude-orchestrator )?([a-z][a-z-]+)((?: [^`]*)?)`", SKILL)
    checked = 0
    for name, rest in shown:
        command = cli.get_command(ctx, name)
        if command is None:
            continue  # a word in backticks, not a command (CO_TASK_ID and the like)
        flags = {f for p in command.params for f in [*p.opts, *p.secondary_opts]}
        assert set(re.findall(r"--[a-z-]+", rest)) <= flags, (name, rest)
        checked += 1
    assert checked >= 10


def test_the_seeds_zk_hosts_flag_and_a_bare_seconds_timeout(co: Cli) -> None:
    hosts = co.env["ZK_HOSTS"]
    bob = register(co, "bob")
    out = co.ok("--zk-hosts", hosts, "wait-for-message", "--timeout", "0", ZK_HOSTS="")
    assert out["status"] == "timeout"
    assert co.ok("heartbeat", "--zk-hosts", hosts, "-i", bob, ZK_HOSTS="")["status"] == "ok"


def test_the_seeds_readme_session_runs(zk_hosts: str, tmp_path: Path) -> None:
    """Tom leads, Jerry builds, Bob tests — each in his own checkout, the seed's commands
    as its README gives them (task ids are taken from the output: ours start at 1)."""
    tom, jerry, bob = (Cli(zk_hosts, tmp_path / n) for n in ("tom", "jerry", "bob"))
    for who in (tom, jerry, bob):
        who.cwd.mkdir()
    assert tom.ok("setup", "--leader", "--name", "Tom")["status"] == "configured"
    jerry.ok("setup", "--name", "Jerry", "--role", "developer")
    bob.ok("setup", "--name", "Bob", "--role", "tester")
    assert jerry.ok("register")["name"] == "Jerry" and bob.ok("register")["role"] == "tester"
    login = tom.ok(
        "push-task",
        "--title",
        "Implement POST /api/auth/login",
        "--description",
        "Email+password login, return JWT.",
        "--priority",
        "0",
    )["id"]
    claimed = jerry.ok("claim-task")
    assert claimed["id"] == login and claimed["status"] == "claimed"
    jerry.ok("task-block", "--task-id", login, "--reason", "Waiting for API key")
    key = "API key is in 1Password: auth/third-party/google-oauth"
    assert tom.ok("send-message", "--to-name", "Jerry", "--content", key)["message_count"] == 1
    assert [m["content"] for m in jerry.ok("poll-message")] == [key]
    done = jerry.ok("complete-task", "--task-id", login, "--result", "PR #42 — login endpoint")
    assert done["status"] == "completed"
    tests = tom.ok("push-task", "--title", "Test login")["id"]
    assert bob.ok("claim-task")["id"] == tests
    bob.ok("task-fail", "--task-id", tests, "--reason", "Test environment unavailable")
    again = bob.ok("task-retry", "--task-id", tests)
    assert again["status"] == "pending" and again["retry_count"] == 1
    assert [t["id"] for t in tom.ok("poll-task", "--status", "pending")] == [tests]


def test_a_task_assigned_to_an_instance_id_goes_to_that_instance(co: Cli) -> None:
    jerry, bob = register(co, "jerry"), register(co, "bob")
    task = co.ok("push-task", "--title", "t", "--assignee", jerry)
    assert task["assignee"] == "jerry"
    assert co.ok("claim-task", "-i", bob)["status"] == "no_tasks"
    assert co.ok("claim-task", "-i", jerry)["id"] == task["id"]
