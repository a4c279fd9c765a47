"""Pushes that could only wait forever are refused; registering is forgiving of a repeat
and strict about a lease; a completed task keeps no stale block reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clihelp import Cli


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def claimed(co: Cli, title: str) -> str:
    co.ok("push-task", "--title", title)
    task_id: str = co.ok("claim-task")["id"]
    return task_id


@pytest.mark.parametrize("end", ["cancel-task", "task-fail"])
def test_depending_on_a_task_that_will_never_complete_is_refused(co: Cli, end: str) -> None:
    co.ok("register", "--name", "w1")
    dep = claimed(co, "dep")
    co.ok(end, "--task-id", dep, "--reason", "no")
    r = co("push-task", "--title", "t", "--depends-on", dep)
    assert r.code == 1 and r.out == ""
    status = "cancelled" if end == "cancel-task" else "failed"
    assert r.err.startswith(f"error: push-task: depends on {dep}, which is {status}")
    assert [t["id"] for t in co.ok("list-tasks")] == [dep]


def test_an_assignee_the_team_file_does_not_have_is_refused(co: Cli, zk_hosts: str) -> None:
    (co.cwd / "team.toml").write_text(
        f'[team]\nname = "test"\nzookeeper = "{zk_hosts}"\ninsecure = true\n'
        '[[worker]]\nname = "ann"\n'
    )
    r = co("push-task", "--title", "t", "--assignee", "bob")
    assert r.code == 2 and r.out == ""
    assert r.err.startswith("error: --assignee: no worker 'bob'") and "workers: ann" in r.err
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)
    assert co.ok("push-task", "--title", "t", "--assignee", "ann")["assignee"] == "ann"
    assert co.ok("push-task", "--title", "t", "--assignee", "role:dev")["assignee"] == "role:dev"
    co.ok("register", "--name", "bob")  # a hand-registered instance is a valid assignee
    assert co.ok("push-task", "--title", "t", "--assignee", "bob")["assignee"] == "bob"


@pytest.mark.parametrize("lease", ["0", "0s", "500ms"])
def test_a_lease_under_a_second_is_refused(co: Cli, lease: str) -> None:
    r = co("register", "--name", "w1", "--lease", lease)
    assert r.code == 2 and r.err.startswith("error: --lease: must be at least 1s")


def test_registering_again_under_ones_own_name_reuses_the_instance(co: Cli) -> None:
    first = co.ok("register", "--name", "w1", "--lease", "60s")
    again = co.ok("register", "--name", "w1", "--lease", "300s")
    assert again["id"] == first["id"] and again["lease_s"] == 300
    assert [i["id"] for i in co.ok("list-instances")] == [first["id"]]
    other = co("register", "--name", "w1", CO_INSTANCE_ID="inst-someone-else")
    assert other.code == 1 and "held by live instance" in other.err


def test_a_completed_task_keeps_no_stale_block_reason(co: Cli) -> None:
    co.ok("register", "--name", "w1")
    tid = claimed(co, "t")
    co.ok("task-start", "--task-id", tid)
    assert co.ok("task-block", "--task-id", tid, "--reason", "need input")["reason"] == "need input"
    done = co.ok("complete-task", "--task-id", tid, "--result", "ok")
    assert done["status"] == "completed" and done["reason"] is None
    assert co.ok("show-task", "--task-id", tid)["reason"] is None
