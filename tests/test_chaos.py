"""The chaos suite (bench/chaos.py): its short run end to end, and its detectors.

The detectors are tested on purpose-made violations (a task completed twice, an agent whose
worker is gone, a task held by an unregistered instance): a suite that cannot see a violation
would pass whatever the product does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from kazoo.client import KazooClient

from bench.chaos_checks import (
    Ledger,
    overdue,
    task_violations,
    watch_agents,
    watch_holds,
    worker_errors,
)
from bench.chaos_team import FAKE_AGENT, leftovers, scan
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import HistoryEntry, Task, TaskStatus
from claude_orchestrator.zk.team import Team
from tests.helpers import claim, wait_until

CHAOS = Path(__file__).resolve().parent.parent / "bench" / "chaos.py"
# A session leader that looks like a worker of the team in ROOT: it starts a hanging fake
# agent in its own session (as the worker does) and waits.
LEADER = """
import os, subprocess, sys, time
agent = [sys.executable, os.environ["AGENT"], "-p", "--", "fake-agent:hang"]
subprocess.Popen(agent, cwd=sys.argv[1])
time.sleep(600)
"""


def done(status: str = "completed", completions: int = 1, reason: str | None = None) -> Task:
    def to(state: TaskStatus) -> HistoryEntry:
        return HistoryEntry("x", None, state, "w1")

    history = (to(TaskStatus.CLAIMED), *[to(TaskStatus.COMPLETED)] * completions)
    return Task(
        "t1", "t", "", 1, TaskStatus(status), None, "op", "x", reason=reason, history=history
    )


def test_task_violations_accept_one_completion_or_a_reasoned_failure() -> None:
    assert task_violations("t1", done()) == []
    failed = done("failed", 0, reason="retries spent")
    assert task_violations("t1", failed) == []


@pytest.mark.parametrize(
    ("rec", "invariant"),
    [
        (None, "task lost"),
        (done(completions=2), "task completed more than once"),
        (done("failed", 0), "task failed without a reason"),
        (done("failed", 0, reason=""), "task failed without a reason"),
        (done("pending", 0), "task not completed once nor failed"),
        (done("in_progress", 0), "task not completed once nor failed"),
        (done("cancelled", 0, reason="x"), "task not completed once nor failed"),
        (done("completed", 0), "task not completed once nor failed"),
    ],
)
def test_task_violations_name_what_is_wrong(rec: Any, invariant: str) -> None:
    assert [v["invariant"] for v in task_violations("t1", rec)] == [invariant]


def test_overdue_needs_the_key_in_every_sample_for_the_limit() -> None:
    first: dict[str, float] = {}
    assert overdue({"a"}, first, 0.0, 1.0) == []
    assert overdue({"a", "b"}, first, 0.9, 1.0) == []
    assert overdue({"a", "b"}, first, 1.0, 1.0) == ["a"]
    assert overdue({"b"}, first, 1.5, 1.0) == []  # a left: forgotten
    assert overdue({"a", "b"}, first, 2.0, 1.0) == ["b"]  # a starts again from 2.0


def test_worker_errors_reports_each_error_line_once(tmp_path: Path) -> None:
    (tmp_path / "w1.log").write_text("INFO fine\nerror: instance w1-1 is not registered\n")
    (tmp_path / "w2.log").write_text("INFO fine\nan error: mid-line is no exit\n")
    (tmp_path / "supervisor.log").write_text("error: not a worker's\n")
    read: dict[str, int] = {}
    found = worker_errors(tmp_path, read)
    assert [(f["log"], f["line"]) for f in found] == [
        ("w1.log", "error: instance w1-1 is not registered")
    ]
    assert worker_errors(tmp_path, read) == []
    with open(tmp_path / "w2.log", "a") as fh:
        fh.write("error: later\n")
    assert [f["log"] for f in worker_errors(tmp_path, read)] == ["w2.log"]


@pytest.fixture
def leader(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-c", LEADER, str(tmp_path), "worker", "--name", "w1"]
    env = {**os.environ, "AGENT": FAKE_AGENT}
    proc = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    yield proc
    proc.kill()
    proc.wait()
    for agent in scan(tmp_path).agents.values():
        try:
            agent.kill()
        except psutil.NoSuchProcess:
            pass


def test_watch_agents_reports_an_agent_that_outlives_its_worker(
    tmp_path: Path, leader: subprocess.Popen[bytes]
) -> None:
    agent = wait_until(lambda: list(scan(tmp_path).agents), 10, "the fake agent")[0]
    assert scan(tmp_path).sessions[agent] == leader.pid
    ledger, stop, stats = Ledger(), threading.Event(), Counter[str]()
    watcher = threading.Thread(target=watch_agents, args=(tmp_path, ledger, stop, stats, 0.5))
    watcher.start()
    try:
        wait_until(lambda: stats["agent_samples"] >= 10, 10, "ten samples")
        assert ledger.items == []  # its worker is alive
        leader.kill()
        leader.wait()
        wait_until(lambda: ledger.items, 10, "the orphaned agent reported")
    finally:
        stop.set()
        watcher.join()
    assert ledger.items[0]["invariant"] == "agent outlived its worker"
    assert ledger.items[0]["pid"] == agent
    assert ledger.items[0]["session"] == leader.pid


def test_leftovers_names_every_process_of_the_team(
    tmp_path: Path, leader: subprocess.Popen[bytes]
) -> None:
    agent = wait_until(lambda: list(scan(tmp_path).agents), 10, "the fake agent")[0]
    left = leftovers(tmp_path, None)
    assert set(left) == {leader.pid, agent}


def test_watch_holds_reports_a_task_held_by_an_unregistered_instance(
    client: KazooClient, zk_hosts: str
) -> None:
    team = Team(client, "test")
    push(team.tasks, [validate_spec({"title": "held"}, "test")], "op", 0.0)
    other = connect(ZkOptions(zk_hosts))
    try:
        holder = Team(other, "test")
        reg = Registration("w1", "dev", "/tmp", session_bound=True)
        iid = holder.registry.register(reg, 0.0)["id"]
        actor = Actor(label=iid, instance_id=iid, name="w1", role="dev")
        task = claim(holder.tasks, actor, 0.0, spread=1)
        assert task is not None
        ledger, stop, stats = Ledger(), threading.Event(), Counter[str]()
        args = (client, team.tasks.paths, ledger, stop, stats, 0.6)
        watcher = threading.Thread(target=watch_holds, args=args)
        watcher.start()
        try:
            wait_until(lambda: stats["hold_samples"] >= 3, 10, "three samples")
            assert ledger.items == []  # its claimer is registered
            holder.registry.unregister(iid)
            wait_until(lambda: ledger.items, 10, "the unheld task reported")
        finally:
            stop.set()
            watcher.join()
    finally:
        disconnect(other)
    assert ledger.items[0]["invariant"] == "task held by an unregistered instance"
    assert (ledger.items[0]["task"], ledger.items[0]["claimed_by"]) == (task.id, iid)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_chaos_short_run_keeps_every_invariant() -> None:
    r = subprocess.run(
        [sys.executable, str(CHAOS), "--short"],
        capture_output=True,
        text=True,
        timeout=140,
        stdin=subprocess.DEVNULL,
    )
    rep = json.loads(r.stdout)
    assert rep["violations"] == [], r.stderr
    assert r.returncode == 0, r.stderr
    assert [p["phase"] for p in rep["phases"]] == ["kills", "supervisor", "zk-restart"]
    assert rep["stats"]["worker_kills"] + rep["stats"]["agent_kills"] >= 20
    assert rep["tasks"]["pushed"] == 40
    assert rep["tasks"]["completed"] + rep["tasks"]["failed"] == 40
    assert rep["stats"]["agent_samples"] > 0 and rep["stats"]["hold_samples"] > 0
    assert "phase" in r.stderr and "violations: 0" in r.stderr
