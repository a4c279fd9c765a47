"""Failover between hosts (issue 10): the leading host killed → the other leads and has swept.

A 3-server ZooKeeper ensemble on loopback (tests/ensemble.py, tickTime 500 ms unless told
otherwise), one team on two "hosts" on this machine — two state dirs with the same team.toml,
``CO_HOST`` a and b, the team authenticated (``[team] auth = "env:CO_ZK_AUTH"``) — each
running 2 workers on the fake agent (tests/fake_agent.py). Host a's agents hang, so each of
its workers holds a task; b's succeed. a is brought up first, so it leads; b stands by.

Each run: tasks are pushed until a1 and a2 hold one each (b completes the others), then every
process of host a (its supervisor, workers and agents, found by their working directory) is
stopped with SIGSTOP — so that nothing is respawned meanwhile — and then killed with SIGKILL.
Timed from the first SIGSTOP (the moment the host goes silent), by watches of the bench's own
session:

- ``a_gone``: a's supervisor snapshot vanished (its session expired on the ensemble);
- ``a_workers_gone``: the instance nodes of both of a's workers vanished (their sessions);
- ``leader``: ``/leader`` names host b;
- ``swept``: both tasks a held are out of a's hands (pending again, or claimed by b, or done):
  the new leader's sweep is done.

The same moments as ZooKeeper's records stamp them (``/leader``'s ``since``, the recovery
entries' ``at`` in the tasks' histories) are reported too. Then a comes back (``up -d``: it
stands by), b is stopped and started again (``down``, ``up -d``) so that a leads the next run.
At the end every task must be completed exactly once and nothing the bench started may be
left running. Prints one JSON object; the target is p50 of ``swept`` ≤ session timeout + 1 s.

    .venv/bin/python bench/failover.py [--runs 10] [--session 4] [--tick-ms 500]

ZooKeeper expires a session between its timeout and one tick after it (expiries are
bucketed by tickTime): ``--tick-ms 2000`` (the production tickTime) shows what that costs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import DataWatch

from bench.common import header, poll, summary
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import decode_task, parse_iso
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.taskmodel import HELD, Task, TaskStatus
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.team import Team
from tests.ensemble import ZkEnsemble
from tests.hostsim import AUTH, still_running, team_text
from tests.hostsim import SimHost as Host

TEAM = "failover"


def read_json(client: KazooClient, path: str) -> dict[str, Any] | None:
    try:
        data, _ = client.get(path)
    except NoNodeError:
        return None
    found = json.loads(data) if data else None
    return found if isinstance(found, dict) else None


def running(client: KazooClient, paths: TeamPaths, host: str, names: list[str]) -> bool:
    """Whether ``host``'s supervisor publishes every one of ``names`` as running."""
    snap = read_json(client, paths.supervisor(host)) or {}
    rows = {w.get("name"): w for w in snap.get("workers", [])}
    return all(rows.get(n, {}).get("state") == "running" for n in names)


def leader_host(client: KazooClient, paths: TeamPaths) -> str | None:
    return (read_json(client, paths.leader) or {}).get("host")


def worker_of(instance_id: str | None) -> str:
    return (instance_id or "").split("-")[0]


def held_by_a(task: Task) -> bool:
    return task.status in HELD and worker_of(task.claimed_by).startswith("a")


def completions(task: Task) -> int:
    return sum(1 for entry in task.history if entry.to is TaskStatus.COMPLETED)


class Moments:
    """The first time (perf_counter) each named condition was seen by a watch."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = threading.Condition()

    def watch(
        self, client: KazooClient, path: str, key: str, met: Callable[[bytes | None], bool]
    ) -> None:
        def seen(data: bytes | None, _stat: Any) -> bool:
            if not met(data):
                return True  # keep watching
            with self.changed:
                self.at.setdefault(key, time.perf_counter())
                self.changed.notify_all()
            return False

        DataWatch(client, path, seen)

    def wait(self, keys: list[str], timeout: float) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: all(k in self.at for k in keys), timeout):
                missing = [k for k in keys if k not in self.at]
                raise TimeoutError(f"not seen within {timeout:g}s: {missing}")


class Failover:
    def __init__(self, root: Path, session_s: float, tick_ms: int) -> None:
        self.session_s = session_s
        self.ensemble = ZkEnsemble(root / "ensemble", size=3, tick_ms=tick_ms)
        self.a = Host("a", root / "a", session_s)
        self.b = Host("b", root / "b", session_s)
        self.paths = TeamPaths(TEAM)
        self.pushed: list[str] = []
        self.client: KazooClient | None = None
        self.team: Team | None = None

    # -- set-up ----------------------------------------------------------------
    def start(self) -> None:
        self.ensemble.start()
        text = team_text(TEAM, self.ensemble.hosts, {"a": (2, "hang"), "b": (2, "succeed")})
        for host in (self.a, self.b):
            host.root.mkdir()
            (host.root / "team.toml").write_text(text)
        self.client = connect(ZkOptions(self.ensemble.hosts, auth=AUTH))
        self.a.ok("up", "-d")
        poll(lambda: self.leader() == "a", 60, 0.05)
        self.b.ok("up", "-d")
        self.wait_running(self.a)
        self.wait_running(self.b)
        self.team = Team(self.zk, TEAM)

    @property
    def zk(self) -> KazooClient:
        assert self.client is not None
        return self.client

    @property
    def store(self) -> TaskStore:
        assert self.team is not None
        return self.team.tasks

    def leader(self) -> str | None:
        return leader_host(self.zk, self.paths)

    def wait_running(self, host: Host) -> None:
        names = [f"{host.name}1", f"{host.name}2"]
        poll(lambda: running(self.zk, self.paths, host.name, names), 60, 0.05)

    # -- one run ---------------------------------------------------------------
    def load_a(self) -> list[str]:
        """Push tasks until a1 and a2 hold one each; then until b finished the others."""
        spec = validate_spec({"title": "work", "description": "anything"}, "bench")
        ids: list[str] = []
        for _ in range(10):
            ids += [t.id for t in push(self.store, [spec] * 4, "bench", time.time())]
            try:
                poll(partial(self.a_holds_two, ids), 5, 0.05)
                break
            except TimeoutError:
                continue
        else:
            raise TimeoutError("host a's workers never held a task each")
        self.pushed += ids
        held = [i for i in ids if held_by_a(self.store.get(i))]
        others = [i for i in ids if i not in held]
        poll(partial(self.completed, others), 60, 0.05)
        poll(lambda: self.a_in_progress(held) and len(self.a.processes()) == 5, 30, 0.05)
        return held

    def a_holds_two(self, ids: list[str]) -> bool:
        tasks = [self.store.get(i) for i in ids]
        return sorted(worker_of(t.claimed_by) for t in tasks if held_by_a(t)) == ["a1", "a2"]

    def completed(self, ids: list[str]) -> bool:
        return all(self.store.get(i).status is TaskStatus.COMPLETED for i in ids)

    def a_in_progress(self, held: list[str]) -> bool:
        return all(self.store.get(i).status is TaskStatus.IN_PROGRESS for i in held)

    def run_once(self) -> dict[str, Any]:
        if self.leader() != "a":
            raise RuntimeError(f"host a should lead, {self.leader()} does")
        held = self.load_a()
        self.b.processes()  # remember b's pids too, for the final check
        moments = Moments()
        moments.watch(self.zk, self.paths.supervisor("a"), "a_gone", lambda d: d is None)
        moments.watch(self.zk, self.paths.leader, "leader", _names_b)
        for i, task_id in enumerate(held):
            moments.watch(self.zk, self.paths.record(task_id), f"task{i}", _out_of_a)
            holder = str(self.store.get(task_id).claimed_by)
            moments.watch(self.zk, self.paths.instance(holder), f"worker{i}", lambda d: d is None)
        t0_wall, t0 = time.time(), time.perf_counter()
        killed = self.a.stop_and_kill()
        killed_s = time.perf_counter() - t0
        limit = 10 * self.session_s + 30
        moments.wait(["a_gone", "worker0", "worker1", "leader", "task0", "task1"], limit)
        since = (read_json(self.zk, self.paths.leader) or {}).get("since")
        stamped_leader = round(since - t0_wall, 3) if isinstance(since, (int, float)) else None
        recovered = [_recovered_at(self.store.get(i), t0_wall) for i in held]
        stamped_recovered = None if None in recovered else max(r or 0.0 for r in recovered)
        poll(lambda: all(completions(self.store.get(i)) for i in held), 60, 0.05)
        poll(lambda: not still_running({p: self.a.seen[p] for p in killed}), 30, 0.05)
        at = {k: round(v - t0, 3) for k, v in moments.at.items()}
        return {
            "processes_killed": len(killed),
            "stop_to_kill_s": round(killed_s, 3),
            "a_gone_s": at["a_gone"],
            "a_workers_gone_s": max(at["worker0"], at["worker1"]),
            "leader_s": at["leader"],
            "swept_s": max(at["task0"], at["task1"]),
            "stamped_leader_s": stamped_leader,
            "stamped_recovered_s": stamped_recovered,
        }

    def restore(self) -> None:
        """a back (it stands by); b stopped and started again, so that a leads."""
        self.a.ok("up", "-d")
        self.wait_running(self.a)
        self.b.ok("down")
        poll(lambda: self.leader() == "a", 60, 0.05)
        self.b.ok("up", "-d")
        self.wait_running(self.b)

    # -- the end ---------------------------------------------------------------
    def exactly_once(self) -> dict[str, list[str]]:
        counts = {i: completions(self.store.get(i)) for i in self.pushed}
        return {
            "completed_twice_or_more": [i for i, n in counts.items() if n > 1],
            "not_completed": [i for i, n in counts.items() if n == 0],
        }

    def stop(self) -> dict[str, Any]:
        """Both hosts down, the ensemble stopped; what was left running, before and after
        the bench's own last resort (SIGKILL)."""
        for host in (self.a, self.b):
            host.processes()
            host.run("down", "--timeout", "5s")
        seen = {**self.a.seen, **self.b.seen}
        try:
            poll(lambda: not still_running(seen), 20, 0.1)
        except TimeoutError:
            pass
        after_down = still_running(seen)
        for host in (self.a, self.b):
            host.stop_and_kill()
        if self.client is not None:
            disconnect(self.client)
        members = {}
        for member in self.ensemble.members:
            pid = member.proc.pid if member.proc is not None else None
            if pid is not None:
                members[pid] = psutil.Process(pid).create_time()
        self.ensemble.stop()
        return {
            "left_after_down": after_down,
            "left_at_the_end": still_running({**seen, **members}),
        }


def _names_b(data: bytes | None) -> bool:
    if not data:
        return False
    found = json.loads(data)
    return isinstance(found, dict) and found.get("host") == "b"


def _out_of_a(data: bytes | None) -> bool:
    return data is not None and not held_by_a(decode_task(data))


def _recovered_at(task: Task, after_wall: float) -> float | None:
    """Seconds from ``after_wall`` to the history entry that took the task from a."""
    for entry in task.history:
        if entry.frm in HELD and entry.to is TaskStatus.PENDING:
            at = parse_iso(entry.at)
            if at >= after_wall:
                return round(at - after_wall, 3)
    return None


def seconds(samples: list[float | None]) -> dict[str, float]:
    """p50, p95, min and max in seconds, of the samples there are."""
    ms = summary([s for s in samples if s is not None])
    return {
        "p50_s": round(ms["median_ms"] / 1000, 3),
        "p95_s": round(ms["p95_ms"] / 1000, 3),
        "min_s": round(ms["min_ms"] / 1000, 3),
        "max_s": round(ms["max_ms"] / 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--session", type=float, default=4.0, help="session timeout, seconds")
    parser.add_argument("--tick-ms", type=int, default=500, help="the ensemble's tickTime")
    args = parser.parse_args()
    low, high = 2 * args.tick_ms / 1000, 20 * args.tick_ms / 1000
    if not low <= args.session <= high:  # what the servers would grant
        parser.error(f"--session: tickTime {args.tick_ms} ms allows {low:g} to {high:g} s")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="co-failover-") as tmp:
        bench = Failover(Path(tmp), args.session, args.tick_ms)
        try:
            bench.start()
            for i in range(args.runs):
                if i:
                    bench.restore()
                runs.append(bench.run_once())
                print(json.dumps({"run": i + 1, **runs[-1]}), file=sys.stderr, flush=True)
            once = bench.exactly_once()
        finally:
            cleanup = bench.stop()
    target = args.session + 1.0
    swept = seconds([r["swept_s"] for r in runs])
    report = {
        **header(),
        "zookeeper": f"3-server ensemble on loopback, tickTime {args.tick_ms} ms",
        "hosts": "a and b, 2 workers each, on this machine; a leads and is killed",
        "session_timeout_s": args.session,
        "target_s": target,
        "runs": runs,
        "a_gone": seconds([r["a_gone_s"] for r in runs]),
        "a_workers_gone": seconds([r["a_workers_gone_s"] for r in runs]),
        "leader": seconds([r["leader_s"] for r in runs]),
        "swept": swept,
        "stamped_leader": seconds([r["stamped_leader_s"] for r in runs]),
        "stamped_recovered": seconds([r["stamped_recovered_s"] for r in runs]),
        "target_met": swept["p50_s"] <= target,
        "tasks_pushed": len(bench.pushed),
        **once,
        **cleanup,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
