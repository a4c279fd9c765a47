"""Throughput across hosts (issue 10): 2 hosts x 4 workers against 1 host x 4.

Both teams run against one shared standalone ZooKeeper (bench/common.py ``private_server``:
tickTime 2000, the production timing), authenticated (``[team] auth = "env:CO_ZK_AUTH"``):

- **one host**: host a (its own state dir, ``CO_HOST=a``) runs 4 workers;
- **two hosts**: the same team file places 4 workers on a and 4 on b; two state dirs, two
  supervisors (a leads, b stands by), 8 workers.

Every worker runs the fake agent (tests/fake_agent.py) with ``FAKE_AGENT_MODE=sleep=S``: each
task takes S seconds of agent time and little CPU, so the rate is bound by the number of
workers, not by this machine's 2 cores — with instant agents (``--agent-s 0``) 8 workers
cannot beat 4 here, since 4 already keep both cores busy. N tasks are pushed at once and
timed until the last is completed (a watch on the completed folder). Prints one JSON object:
each rate, the machine's CPU use during it, each worker's cycle per task (workers * seconds /
tasks), where that cycle went by the task records (the run from ``started_at`` to
``finished_at``, the gap to the worker's next start, the ramp and the tail), and the ratio
two ÷ one (target ≥ 1.8; 2.0 is the ideal). ``--repeat`` alternates the two that often.

    .venv/bin/python bench/hosts_throughput.py [--tasks 200] [--agent-s 0.5] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.common import header, poll, private_server
from bench.failover import running
from bench.supervisor_bench import throughput
from claude_orchestrator.supervisor.zkserver import ZkServer
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import parse_iso
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.team import Team
from tests.hostsim import AUTH, still_running, team_text
from tests.hostsim import SimHost as Host

WIDTH = 4  # workers per host


def agent_mode(agent_s: float) -> str:
    return f"sleep={agent_s:g}" if agent_s > 0 else "succeed"


def team_rate(
    server: ZkServer, name: str, hosts: list[str], tasks: int, agent_s: float
) -> dict[str, Any]:
    """Bring up ``hosts`` (the first leads), push ``tasks`` at once, time them to the last."""
    text = team_text(name, server.hosts, {h: (WIDTH, agent_mode(agent_s)) for h in hosts})
    paths = TeamPaths(name)
    with tempfile.TemporaryDirectory(prefix=f"co-{name}-") as tmp:
        members = [Host(h, Path(tmp) / h, None) for h in hosts]
        client = connect(ZkOptions(server.hosts, auth=AUTH))
        try:
            for host in members:
                host.root.mkdir()
                (host.root / "team.toml").write_text(text)
                host.ok("up", "-d", "--wait", "300s")
            for host in members:
                names = [f"{host.name}{i}" for i in range(1, WIDTH + 1)]
                poll(partial(running, client, paths, host.name, names), 60, 0.05)
            team = Team(client, name)
            poll(lambda: len(team.registry.ids()) == WIDTH * len(hosts), 60, 0.05)
            for host in members:
                host.processes()  # remember their pids for the check at the end
            cpu_before = psutil.cpu_times()
            rate = throughput(team, tasks)
            busy = _busy_pct(cpu_before, psutil.cpu_times())
            steps = breakdown(team)
        finally:
            for host in reversed(members):  # the standby first: no failover on the way out
                host.processes()
                host.run("down", "--timeout", "10s")
            disconnect(client)
        seen = {pid: t for host in members for pid, t in host.seen.items()}
        try:
            poll(lambda: not still_running(seen), 20, 0.1)
        except TimeoutError:
            pass
        left = still_running(seen)
        for host in members:
            host.stop_and_kill()
    workers = WIDTH * len(hosts)
    cycle = workers * rate["seconds"] / tasks
    return {
        "hosts": len(hosts),
        "workers": workers,
        **rate,
        "ideal_tasks_per_s": round(workers / agent_s, 1) if agent_s > 0 else None,
        "cycle_per_task_s": round(cycle, 3),
        "cpu_busy_pct": busy,
        **steps,
        "left_running": left,
    }


def breakdown(team: Team) -> dict[str, float]:
    """From the task records, means in seconds: a task's run (``started_at`` →
    ``finished_at``: the agent's start, its sleep, the report), a worker's gap between two
    tasks (a ``finished_at`` → its next ``started_at``: the claim and the start), and per
    worker the ramp (the push → its first ``started_at``) and the tail (its last
    ``finished_at`` → the team's last)."""
    store = team.tasks
    tasks = [store.get(i) for i in store.entries(store.paths.records)]
    pushed = min(parse_iso(t.created_at) for t in tasks)
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for task in tasks:
        if task.started_at is not None and task.finished_at is not None:
            span = (parse_iso(task.started_at), parse_iso(task.finished_at))
            by_worker.setdefault(str(task.claimed_by), []).append(span)
    runs, gaps = [], []
    for spans in by_worker.values():
        spans.sort()
        runs += [end - start for start, end in spans]
        gaps += [b[0] - a[1] for a, b in pairwise(spans)]
    last = max(spans[-1][1] for spans in by_worker.values())
    return {
        "run_mean_s": round(statistics.mean(runs), 3),
        "gap_mean_s": round(statistics.mean(gaps), 3),
        "ramp_mean_s": round(statistics.mean(s[0][0] - pushed for s in by_worker.values()), 3),
        "tail_mean_s": round(statistics.mean(last - s[-1][1] for s in by_worker.values()), 3),
    }


def _busy_pct(before: Any, after: Any) -> float:
    """The machine's share of CPU time not idle between two ``psutil.cpu_times()``."""
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return round(100 * (total - idle) / total, 1) if total > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--agent-s", type=float, default=0.5, help="agent time per task")
    parser.add_argument("--repeat", type=int, default=1, help="alternate one/two this often")
    args = parser.parse_args()
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    server_pid: dict[int, float] = {}
    with private_server() as server:
        if server.proc is not None and server.proc.pid is not None:
            server_pid[server.proc.pid] = psutil.Process(server.proc.pid).create_time()
        for i in range(args.repeat):
            one.append(team_rate(server, f"one{i}", ["a"], args.tasks, args.agent_s))
            two.append(team_rate(server, f"two{i}", ["a", "b"], args.tasks, args.agent_s))
            print(json.dumps({"one": one[-1], "two": two[-1]}), file=sys.stderr, flush=True)
    ratios = [o["seconds"] / t["seconds"] for o, t in zip(one, two, strict=True)]  # same tasks
    report = {
        **header(),
        "zookeeper": "one standalone server on loopback, tickTime 2000 ms, shared by the hosts",
        "agent": f"fake agent, FAKE_AGENT_MODE={agent_mode(args.agent_s)}",
        "tasks": args.tasks,
        "one_host_4_workers": one,
        "two_hosts_8_workers": two,
        "ratios": [round(r, 3) for r in ratios],
        "ratio": round(statistics.median(ratios), 3),
        "ideal_ratio": 2.0,
        "target_ratio": 1.8,
        "target_met": statistics.median(ratios) >= 1.8,
        "server_left_running": still_running(server_pid),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
