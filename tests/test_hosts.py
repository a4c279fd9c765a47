"""One team on two hosts (issue 10): two supervisors with their own ``CO_HOST`` and state
dirs against a real 3-server ensemble. One leads, the other stands by, both run their own
workers; when the leading host dies or freezes, the other leads and every task the lost host
held is completed exactly once."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest
from kazoo.exceptions import NoNodeError

from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.taskmodel import TaskStatus
from claude_orchestrator.zk.team import Team
from tests.ensemble import ZkEnsemble
from tests.helpers import exited, wait_until
from tests.hostsim import AUTH, FAKE_AGENT, SimHost, team_text

pytestmark = pytest.mark.slow

SESSION_S = 2.0
PATHS = TeamPaths("multi")


class Host(SimHost):
    """One host of the team ``multi``: a1, a2 on host a (their fake agents as ``a_agent``
    says), b1, b2 on b, and c1 on a host c that never comes up."""

    def configure(self, hosts: str, a_agent: str = "hang") -> None:
        workers = {"a": (2, a_agent), "b": (2, "succeed"), "c": (1, "succeed")}
        (self.root / "team.toml").write_text(team_text("multi", hosts, workers))

    def ok(self, *args: str) -> Any:
        out = super().ok(*args)
        return json.loads(out) if out.startswith(("{", "[")) else out


@pytest.fixture
def hosts(ensemble: ZkEnsemble, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    pair = (Host("a", tmp_path / "a", SESSION_S), Host("b", tmp_path / "b", SESSION_S))
    for host in pair:
        host.root.mkdir()
        host.configure(ensemble.hosts)
    yield pair
    for host in pair:
        host.run("down", "--timeout", "2s")
        host.stop_and_kill()


@pytest.fixture
def team(ensemble: ZkEnsemble) -> Iterator[Team]:
    client = connect(ZkOptions(ensemble.hosts, auth=AUTH))
    yield Team(client, "multi")
    disconnect(client)


def read(team: Team, path: str) -> dict[str, Any] | None:
    try:
        data, _ = team.client.get(path)
    except NoNodeError:
        return None
    return dict(json.loads(data))


def snapshot(team: Team, host: str) -> dict[str, Any] | None:
    return read(team, PATHS.supervisor(host))


def leader_host(team: Team) -> str | None:
    return (read(team, PATHS.leader) or {}).get("host")


def bring_up(a: Host, b: Host, team: Team) -> None:
    """``a`` first, so that it leads; then ``b``, which stands by."""
    a.ok("up", "-d")
    wait_until(lambda: leader_host(team) == "a", 30, "a to lead")
    b.ok("up", "-d")
    for h in ("a", "b"):
        wait_until(partial(_running, team, h, (f"{h}1", f"{h}2")), 30, f"{h}'s workers")
    assert snapshot(team, "a")["leader"] and not snapshot(team, "b")["leader"]  # type: ignore[index]


def _running(team: Team, host: str, names: tuple[str, ...]) -> bool:
    snap = snapshot(team, host)
    rows = {w["name"]: w for w in (snap or {}).get("workers", [])}
    return all(rows.get(n, {}).get("state") == "running" for n in names)


def held_by(team: Team, ids: list[str]) -> dict[str, str]:
    """Task id → the name of the worker that holds it now."""
    held = {}
    for task_id in ids:
        task = team.tasks.get(task_id)
        if task.status in (TaskStatus.CLAIMED, TaskStatus.IN_PROGRESS):
            held[task_id] = worker_of(task.claimed_by)
    return held


def worker_of(instance_id: str | None) -> str:
    return (instance_id or "").split("-")[0]


def completed_by(team: Team, ids: list[str]) -> set[str]:
    """The workers whose completions the records show."""
    found = set()
    for task_id in ids:
        for entry in team.tasks.get(task_id).history:
            if entry.to is TaskStatus.COMPLETED:
                found.add(worker_of(entry.by))
    return found


def completions(team: Team, task_id: str) -> int:
    rec = team.tasks.get(task_id)
    return sum(1 for entry in rec.history if entry.to is TaskStatus.COMPLETED)


def push_some(team: Team, n: int) -> list[str]:
    spec = validate_spec({"title": "work", "description": "anything"}, "test")
    return [t.id for t in push(team.tasks, [spec] * n, "test", time.time())]


def test_a_dead_leading_host_is_replaced_and_its_tasks_completed_once(
    hosts: tuple[Host, Host], team: Team
) -> None:
    a, b = hosts
    bring_up(a, b, team)
    ids = push_some(team, 10)
    # a's agents hang: a's two workers each end up holding one; b completes the rest
    wait_until(lambda: sorted(held_by(team, ids).values()) == ["a1", "a2"], 30, "a holds two")
    wait_until(lambda: len(_agents(a)) == 2, 30, "a's two agents running")
    killed = a.stop_and_kill()  # the host dies: no reap, no clean stop
    assert len(killed) == 5  # the supervisor, two workers, their two agents
    wait_until(lambda: all(exited(pid) for pid in killed), 10, "a's processes to die")
    team.client.create(PATHS.control_node("a", "req-"), b"{}", sequence=True)  # never answered
    wait_until(lambda: leader_host(team) == "b", SESSION_S * 10, "b to lead")
    wait_until(lambda: all(completions(team, i) for i in ids), 60, "every task completed")
    assert [i for i in ids if completions(team, i) != 1] == []
    assert completed_by(team, ids) == {"b1", "b2"}
    wait_until(lambda: snapshot(team, "a") is None, SESSION_S * 10, "a's snapshot gone")
    wait_until(lambda: (snapshot(team, "b") or {}).get("leader"), 10, "b's snapshot to say so")
    # ps: a's workers lost, with when a was last seen; the leader cleared a's requests
    wait_until(lambda: _lost(b) == {"a1", "a2"}, 20, "a's workers shown lost")
    rows = {row["name"]: row for row in b.ok("ps", "--json")}
    assert rows["a1"]["last_seen"] <= time.time() and rows["b1"]["supervisor"] == "leader"
    assert team.client.get_children(PATHS.control_host("a")) == []
    assert {row["name"] for row in b.ok("ps", "--json", "--host", "a")} == {"a1", "a2"}
    assert "lost (last seen" in b.ok("ps") and b.ok("status")["leader"]["host"] == "b"
    # a comes back: its workers replace the lost ones, and it stands by
    a.ok("up", "-d")
    wait_until(partial(_running, team, "a", ("a1", "a2")), 30, "a's workers back")
    wait_until(lambda: not _lost(b), 10, "no lost workers")
    assert leader_host(team) == "b" and not snapshot(team, "a")["leader"]  # type: ignore[index]
    assert "supervisor on b (pid" in b.ok("ps")


def _lost(host: Host) -> set[str]:
    return {row["name"] for row in host.ok("ps", "--json") if row["state"] == "lost"}


def test_a_frozen_leading_host_neither_completes_recovered_tasks_nor_leads_when_it_thaws(
    hosts: tuple[Host, Host], team: Team, ensemble: ZkEnsemble
) -> None:
    a, b = hosts
    for host in hosts:  # a's agents finish after the thaw, long after their tasks moved on
        host.configure(ensemble.hosts, a_agent="sleep=3")
    bring_up(a, b, team)
    ids = push_some(team, 6)
    wait_until(lambda: sorted(held_by(team, ids).values()) == ["a1", "a2"], 30, "a holds two")
    agents = wait_until(lambda: _agents(a) if len(_agents(a)) == 2 else None, 30, "a's agents")
    frozen = a.stop_all()
    try:
        wait_until(lambda: leader_host(team) == "b", SESSION_S * 10, "b to lead")
        wait_until(lambda: all(completions(team, i) for i in ids), 60, "every task completed")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    # a thaws with expired sessions: it rejoins as a standby and its late results are stale
    wait_until(lambda: _running(team, "a", ("a1", "a2")), 30, "a back with its workers")
    wait_until(lambda: snapshot(team, "a") is not None, 30, "a publishing again")
    assert not snapshot(team, "a")["leader"] and leader_host(team) == "b"  # type: ignore[index]
    wait_until(lambda: all(exited(pid) for pid in agents), 30, "a's late agents to end")
    wait_until(lambda: _idle(team, "a"), 30, "a's workers to report and go idle")
    assert [i for i in ids if completions(team, i) != 1] == []
    assert completed_by(team, ids) == {"b1", "b2"}


def _agents(host: Host) -> list[int]:
    found = []
    for proc in host.processes():
        try:
            if str(FAKE_AGENT) in " ".join(proc.cmdline()):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def _idle(team: Team, host: str) -> bool:
    snap = snapshot(team, host) or {}
    return all(not w.get("current_task") for w in snap.get("workers", []))


def pid_of(team: Team, host: str, name: str) -> int | None:
    rows = {w["name"]: w for w in (snapshot(team, host) or {}).get("workers", [])}
    pid = rows.get(name, {}).get("pid")
    return int(pid) if pid is not None else None


def test_control_commands_reach_the_workers_host_and_down_all_stops_every_host(
    hosts: tuple[Host, Host], team: Team
) -> None:
    a, b = hosts
    bring_up(a, b, team)
    before = {n: pid_of(team, "b", n) for n in ("b1", "b2")}
    assert a.ok("restart", "b1")["restarted"] == ["b1"]  # asked on a, done on b
    wait_until(lambda: pid_of(team, "b", "b1") not in (None, before["b1"]), 30, "b1 restarted")
    assert pid_of(team, "b", "b2") == before["b2"]
    assert exited(before["b1"])  # type: ignore[arg-type]
    assert a.ok("up", "b2", "--json")["kept"] == ["b2"]  # no supervisor started on a for it
    both = a.ok("restart", "a2", "b2")
    assert sorted(both["restarted"]) == ["a2", "b2"]
    missing = a.run("restart", "c1")
    assert missing.returncode != 0 and "host 'c' (workers c1)" in missing.stderr
    assert missing.stderr.startswith("error:") and "Traceback" not in missing.stderr
    everything = a.processes() + b.processes()
    out = a.ok("down", "--all", "--timeout", "5s")
    assert set(out["hosts"]) == {"a", "b"} and out["hosts"]["b"]["supervisor"] == "stopped"
    assert sorted(out["stopped"]) == ["a1", "a2", "b1", "b2"]
    wait_until(lambda: all(exited(p.pid) for p in everything), 30, "every process of both")
    assert live_snapshots(team) == []


def live_snapshots(team: Team) -> list[str]:
    try:
        return list(team.client.get_children(PATHS.supervisors))
    except NoNodeError:
        return []


def test_killing_the_ensemble_leader_under_two_hosts_loses_and_duplicates_nothing(
    hosts: tuple[Host, Host], team: Team, ensemble: ZkEnsemble
) -> None:
    a, b = hosts
    for host in hosts:
        host.configure(ensemble.hosts, a_agent="sleep=0.2")
    bring_up(a, b, team)
    ids = push_some(team, 40)
    wait_until(lambda: sum(bool(completions(team, i)) for i in ids) >= 5, 60, "a few done")
    victim = ensemble.leader()
    victim.kill()  # the ensemble's own leader, mid-run
    wait_until(lambda: all(completions(team, i) for i in ids), 120, "every task completed")
    assert [i for i in ids if completions(team, i) != 1] == []
    assert ensemble.leader() is not victim
    assert {name[0] for name in completed_by(team, ids)} == {"a", "b"}  # both hosts worked
    assert {leader_host(team)} <= {"a", "b"}
    assert sum(bool((snapshot(team, h) or {}).get("leader")) for h in "ab") <= 1
