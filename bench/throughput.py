"""Our team against a bare loop on the same agent: how much of the machine coordination costs.

Both run the fake agent (tests/fake_agent.py, mode ``succeed``) 4-wide on the same tasks:

- **team**: ``up -d`` of 4 workers on the embedded ZooKeeper, N tasks pushed at once, timed
  until the last is completed (claims, prompts, session logs, stream parsing, reports,
  heartbeats and watches included);
- **bare**: 4 threads, each starting the agent N/4 times in a row with the argv and stdin a
  worker gives it and reading its output to the end — no ZooKeeper, no bookkeeping.

kazoo's ``LockingQueue`` recipe, 4 consumer processes on the same agent, runs too, for
comparison. Prints one JSON object with the rates, their ratios (issue 9 §7: target ≥ 0.9)
and the team's CPU per task by process (supervisor, workers, agents, ZooKeeper: the agents'
share is what the bare loop spends too).

    .venv/bin/python bench/throughput.py [--tasks 200] [--width 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kazoo.recipe.queue import LockingQueue

from bench.common import header, private_server
from bench.supervisor_bench import FAKE_AGENT, Bench, throughput, timed_up
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect

#: what the claude preset passes (conf/agents.py), with the prompt on stdin
AGENT_ARGS = ["-p", "--output-format", "stream-json", "--verbose"]


def team_rate(tasks: int, width: int) -> dict[str, Any]:
    """The team's rate, and where its CPU went per task: the supervisor, the workers
    themselves, their agents (reaped children) and the ZooKeeper server."""
    with tempfile.TemporaryDirectory(prefix="co-tp-") as tmp:
        b = Bench(Path(tmp), width)
        timed_up(b)
        team, client = b.team()
        try:
            before = cpu_split(b)
            rate = throughput(team, tasks)
            after = cpu_split(b)
            per_task = {k: round(1000 * (after[k] - before[k]) / tasks, 2) for k in before}
            return {**rate, "cpu_ms_per_task": per_task}
        finally:
            disconnect(client)
            b.cli("down")


def cpu_split(b: Bench) -> dict[str, float]:
    """CPU seconds so far of the supervisor, the workers, their reaped agents, ZooKeeper."""
    sup = psutil.Process(b.supervisor_pid())
    workers = [psutil.Process(pid).cpu_times() for pid in b.workers().values()]
    java = [p.cpu_times() for p in sup.children() if p.name() == "java"]
    return {
        "supervisor": sum(sup.cpu_times()[:2]),
        "workers": sum(w.user + w.system for w in workers),
        "agents": sum(w.children_user + w.children_system for w in workers),
        "zookeeper": sum(j.user + j.system for j in java),
    }


def run_agent(cwd: str) -> None:
    argv = [sys.executable, str(FAKE_AGENT), *AGENT_ARGS, f"--session-id={uuid.uuid4()}"]
    subprocess.run(argv, input=b"quick", capture_output=True, check=True, cwd=cwd)


def bare_rate(tasks: int, width: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="co-bare-") as cwd:

        def lane(count: int) -> None:
            for _ in range(count):
                run_agent(cwd)

        counts = [tasks // width + (1 if i < tasks % width else 0) for i in range(width)]
        lanes = [threading.Thread(target=lane, args=(n,)) for n in counts]
        start = time.perf_counter()
        for t in lanes:
            t.start()
        for t in lanes:
            t.join()
        took = time.perf_counter() - start
    return {"tasks": tasks, "seconds": round(took, 2), "tasks_per_s": round(tasks / took, 1)}


def locking_queue_rate(tasks: int, width: int) -> dict[str, Any]:
    """kazoo's ``LockingQueue`` recipe as the coordination: ``width`` consumer processes,
    each taking an item, running the agent on it, then consuming it."""
    with private_server() as server, tempfile.TemporaryDirectory(prefix="co-lq-") as cwd:
        client = connect(ZkOptions(server.hosts))
        queue = LockingQueue(client, "/bench-queue")
        for i in range(tasks):
            queue.put(str(i).encode())
        argv = [sys.executable, __file__, "--consume", server.hosts, "--cwd", cwd]
        start = time.perf_counter()
        consumers = [subprocess.Popen(argv) for _ in range(width)]
        for proc in consumers:
            proc.wait()
        took = time.perf_counter() - start
        disconnect(client)
    return {"tasks": tasks, "seconds": round(took, 2), "tasks_per_s": round(tasks / took, 1)}


def consume(hosts: str, cwd: str) -> None:
    """One LockingQueue consumer: until the queue is empty."""
    client = connect(ZkOptions(hosts))
    queue = LockingQueue(client, "/bench-queue")
    while queue.get(timeout=1) is not None:
        run_agent(cwd)
        queue.consume()
    disconnect(client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--consume", help=argparse.SUPPRESS)  # a LockingQueue consumer
    parser.add_argument("--cwd", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        consume(args.consume, args.cwd)
        return
    bare = bare_rate(args.tasks, args.width)
    team = team_rate(args.tasks, args.width)
    recipe = locking_queue_rate(args.tasks, args.width)
    report = {
        **header(),
        "width": args.width,
        "bare_loop": bare,
        "team": team,
        "kazoo_locking_queue": recipe,
        "team_over_bare": round(team["tasks_per_s"] / bare["tasks_per_s"], 3),
        "locking_queue_over_bare": round(recipe["tasks_per_s"] / bare["tasks_per_s"], 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
