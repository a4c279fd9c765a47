"""Faults found by measurement (issue 7 §1): each test asserts on the thing itself, by pid
or by record - an agent that outlives its worker, a supervisor's zombie, ZooKeeper going
away under a worker or a supervisor, an agent killed by a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from claude_orchestrator.supervisor.zkserver import ZkServer, free_port
from tests import test_supervisor
from tests.clihelp import BIN
from tests.helpers import wait_until
from tests.test_supervisor import TEAM, Project, process_running, running

pytestmark = pytest.mark.slow


project = test_supervisor.project  # the same fixture: a team of w1 and w2


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ZkServer]:
    """A ZooKeeper of this test's own, to stop and start again."""
    server = ZkServer(tmp_path / "zk-data", port=free_port(), tick_ms=500)
    server.start()
    yield server
    server.stop()


def agent_of(worker_pid: int) -> int:
    """The pid of the agent a worker runs (its one child)."""

    def child() -> int | None:
        kids = psutil.Process(worker_pid).children()
        return kids[0].pid if kids else None

    return wait_until(child, 20, "the worker's agent")


def task_state(p: Project, tid: str) -> dict[str, Any]:
    rec: dict[str, Any] = p.ok("show-task", "--task-id", tid)
    return rec


def in_progress(p: Project, tid: str) -> dict[str, Any]:
    def started() -> dict[str, Any] | None:
        rec = task_state(p, tid)
        return rec if rec["status"] == "in_progress" else None

    return wait_until(started, 20, f"{tid} in progress")


def test_a_killed_workers_agent_is_dead_before_its_task_is_requeued(project: Project) -> None:
    project.ok("up", "-d")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    tid = project.ok("push-task", "--title", "forever", "--description", "fake-agent:hang")["id"]
    victim = in_progress(project, tid)["claimed_by"].rsplit("-", 1)[0]
    worker_pid = rows[victim]["pid"]
    agent = agent_of(worker_pid)
    assert os.getsid(agent) == worker_pid and os.getpgid(agent) == agent  # own group, same session
    os.kill(worker_pid, signal.SIGKILL)

    def requeued() -> dict[str, Any] | None:
        rec = task_state(project, tid)
        return rec if rec["retry_count"] == 1 else None

    wait_until(requeued, 10, "the task back in the queue")
    # a hanging agent never dies of a broken pipe: only the supervisor can have killed it
    assert not process_running(agent), f"agent {agent} outlived its worker {worker_pid}"


def test_down_kills_agents_still_in_their_grace_period(project: Project) -> None:
    project.ok("up", "-d")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    tid = project.ok("push-task", "--title", "t", "--description", "fake-agent:ignore-term")["id"]
    worker = in_progress(project, tid)["claimed_by"].rsplit("-", 1)[0]
    agent = agent_of(rows[worker]["pid"])
    # the worker's own grace (10 s) outlasts down's timeout: the supervisor kills the worker
    out = project.ok("down", "--timeout", "1s")
    assert out["supervisor"] == "stopped"
    assert not process_running(agent), f"agent {agent} survived down"
    assert project.our_processes() == []


def test_up_right_after_a_supervisor_crash_is_not_refused_by_its_zombie(project: Project) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    argv = [BIN, "-f", str(project.root / "team.toml"), "up", "--no-tui"]
    first = subprocess.Popen(argv, cwd=project.root, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: running(project, "w1", "w2"), 30, "the first supervisor's workers")
        first.send_signal(signal.SIGKILL)
        wait_until(lambda: psutil.Process(first.pid).status() == psutil.STATUS_ZOMBIE, 10, "zombie")
        started = time.monotonic()
        out = project.ok("up", "-d")  # the zombie holds the pid file and the leader node
        assert "is up" in out
        assert time.monotonic() - started < 10  # no wait for the dead session to expire
        pid = json.loads((project.root / ".claude-orchestrator/run/supervisor.pid").read_text())
        assert pid != first.pid and process_running(pid)
    finally:
        first.wait(10)


def test_a_worker_outlives_a_zookeeper_outage(project: Project, own_server: ZkServer) -> None:
    text = TEAM.replace('name = "sup"\n', f'name = "sup"\nzookeeper = "{own_server.hosts}"\n', 1)
    (project.root / "team.toml").write_text(text)
    project.ok("up", "-d")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    pids = {name: row["pid"] for name, row in rows.items()}
    for _ in range(3):  # workers list the queue as the server comes back: no error ends one
        own_server.kill()
        own_server.start()
    tid = project.ok("push-task", "--title", "after", "--description", "hi")["id"]
    wait_until(lambda: task_state(project, tid)["status"] == "completed", 30, "task completed")
    assert {n: r["pid"] for n, r in running(project, "w1", "w2").items()} == pids
    for pid in pids.values():
        assert psutil.Process(pid).is_running()


def test_down_works_while_zookeeper_is_gone(project: Project, own_server: ZkServer) -> None:
    text = TEAM.replace('name = "sup"\n', f'name = "sup"\nzookeeper = "{own_server.hosts}"\n', 1)
    (project.root / "team.toml").write_text(text)
    project.ok("up", "-d")
    wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    own_server.kill()
    started = time.monotonic()
    out = project.ok("down", "--timeout", "2s", timeout="30")
    assert sorted(out["stopped"]) == ["w1", "w2"] and out["supervisor"] == "stopped"
    assert time.monotonic() - started < 12  # worker grace + our last-steps bound, not a hang
    assert project.our_processes() == []


def test_an_agent_killed_by_a_signal_is_retried_not_failed_for_good(project: Project) -> None:
    project.ok("up", "-d")
    wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    pushed = project.ok(
        "push-task", "--title", "oom", "--description", "fake-agent:crash", "--max-retries", "2"
    )
    tid = pushed["id"]
    rec = wait_until(
        lambda: (r := task_state(project, tid))["status"] == "failed" and r, 30, "spent retries"
    )
    assert rec["retry_count"] == 2 and "killed by SIGKILL" in rec["reason"]
    crashes = [h["to"] for h in rec["history"] if "the agent crashed" in (h["note"] or "")]
    assert crashes == ["pending", "pending", "failed"]  # two retries, then failed for good


def test_a_zookeeper_error_in_any_step_never_ends_the_worker(zk_hosts: str, tmp_path: Path) -> None:
    """Inject ConnectionLoss where the chaos run saw it (listing the queue) and in the
    report of the claim: the loop waits, gives back what it lost track of, and goes on."""
    from kazoo.exceptions import ConnectionLoss

    from claude_orchestrator.conf.agents import resolve_agent
    from claude_orchestrator.worker.loop import Worker
    from claude_orchestrator.worker.settings import WorkerSettings
    from claude_orchestrator.zk.client import ZkOptions
    from claude_orchestrator.zk.push import push, validate_spec

    agent = resolve_agent("shell", None)
    ws = WorkerSettings("w1", "dev", tmp_path, agent, "t", ZkOptions(zk_hosts), tmp_path, tmp_path)
    worker = Worker(ws)
    worker.start()
    assert worker.claimer is not None and worker.team is not None
    tasks = worker.team.tasks
    claims, starts = worker.claimer.claim, worker.reporter.start
    faults = {"claim": 2, "start": 1}

    def flaky_claim(now: float) -> Any:
        if faults["claim"]:
            faults["claim"] -= 1
            raise ConnectionLoss()
        return claims(now)

    def flaky_start(task: Any, session: Any) -> bool:
        if faults["start"]:  # after the claim: the task is held but never started
            faults["start"] -= 1
            raise ConnectionLoss()
        return starts(task, session)

    worker.claimer.claim = flaky_claim  # type: ignore[method-assign]
    worker.reporter.start = flaky_start  # type: ignore[method-assign]
    tid = push(tasks, [validate_spec({"title": "t", "description": "echo ok"}, "t")], "op", 0)[0]
    try:
        deadline = time.monotonic() + 30
        while tasks.get(tid.id).status != "completed":
            assert time.monotonic() < deadline, tasks.get(tid.id)
            worker.step()  # raised before: a ZooKeeper error ended the worker
        rec = tasks.get(tid.id)
        assert faults == {"claim": 0, "start": 0} and rec.retry_count == 0
        assert any("lost track" in (h.note or "") for h in rec.history)
    finally:
        worker.shutdown()
