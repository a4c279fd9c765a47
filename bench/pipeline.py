"""The pipeline machinery's overhead (issue 11): the graph push and the stage-to-stage
latency. Prints one JSON object.

    .venv/bin/python bench/pipeline.py [--items 30] [--runs 10] [--chain-items 10] [--chains 3]

**Graph push** (in-process): per run, in a team of its own, a chain and its ``plan`` task
are created, an instance claims and starts the plan task, a graph of ``--items`` items is
validated (a line of items each depending on the one before, a fifth of them independent)
— all outside the timing — and then only ``complete_plan`` is timed: the one ``multi()``
that completes the plan task, sets the chain ``running`` and creates every stage task
(3 per item, and one accept), with the reads it needs first (the task, the chain, the
counter). ``Txn.commit`` is wrapped here to count the operations and bytes of that
``multi()`` and to time its commit alone (``Txn.commit`` serializes the operations twice,
once to check the size, once in kazoo; one serialization is timed afterwards). One
warm-up run is not counted.

**Stage to stage** (a real worker process): the installed ``claude-orchestrator worker``
with the fake agent (tests/fake_agent.py, ``answers=DIR``: instant, it prints and exits)
plays a chain of ``--chain-items`` items in a line (a1 <- a2 <- …, so only one item is
ready at a time and the answers come in a known order), ``--chains`` times. From the task
records: for each pair of tasks the worker ran one after the other where the second depends
on the first (build→verify, verify→review, review→next build, last review→accept), the gap
from the first's ``finished_at`` (stamped just before its completion transaction) to the
second's ``started_at`` (stamped just before its START transition, which comes right before
the agent is spawned). The gap holds: the completion transaction with the chain's step, the
dependents' promotion, the worker's watch and claim, the stage values' read, the prompt
render. ``claimed_at`` splits it in two.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.common import header, poll, private_server, summary
from claude_orchestrator.spawn.exited import running
from claude_orchestrator.zk import txn as txn_module
from claude_orchestrator.zk.chaingraph import validate_graph
from claude_orchestrator.zk.chains import FINAL, ChainStatus, ChainStore, PlanOptions
from claude_orchestrator.zk.chainsteps import PlanAnswer, complete_plan
from claude_orchestrator.zk.claim import claim_as
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import iso, parse_iso
from claude_orchestrator.zk.registry import Actor, Registration
from claude_orchestrator.zk.taskmodel import Action, Change, Task
from claude_orchestrator.zk.team import Team

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent / "claude-orchestrator")
FAKE_AGENT = ROOT / "tests" / "fake_agent.py"
PUSH_TARGET_MS = 100.0
STAGE_TARGET_P50_MS = 50.0


# -- the graphs ----------------------------------------------------------------
def line_graph(items: int, independent: int = 0) -> dict[str, Any]:
    """``items`` items: the first ``items - independent`` in a line (each depending on the
    one before), the rest depending on nothing."""
    chained = items - independent
    out = []
    for n in range(1, items + 1):
        key = f"a{n:02d}" if n <= chained else f"b{n - chained:02d}"
        item: dict[str, Any] = {
            "key": key,
            "title": f"Part {n} of the feature",
            "description": f"Implement part {n}: the module, its wiring and its tests. " * 3,
            "criteria": [f"part {n} works as described", "its tests pass", "ruff is clean"],
            "depends_on": [f"a{n - 1:02d}"] if 1 < n <= chained else [],
        }
        out.append(item)
    return {"title": "A feature in parts", "items": out}


def fenced(graph: dict[str, Any]) -> str:
    return f"Here is the plan.\n\n```json\n{json.dumps(graph, indent=2)}\n```\n"


def verdict(outcome: str, reason: str) -> str:
    block = {"verdict": outcome, "reason": reason, "feedback": []}
    return f"I checked it.\n\n```json\n{json.dumps(block)}\n```\n"


# -- 1. the graph push -----------------------------------------------------------
class CommitLog:
    """Wraps ``Txn.commit`` in this process: each commit's seconds and transaction (its
    operations counted and its bytes computed afterwards, outside any timing)."""

    def __init__(self) -> None:
        self.commits: list[tuple[float, txn_module.Txn]] = []
        self._original = txn_module.Txn.commit

    def __enter__(self) -> CommitLog:
        original, commits = self._original, self.commits

        def commit(t: txn_module.Txn) -> list[Any]:
            start = time.perf_counter()
            try:
                return original(t)
            finally:
                commits.append((time.perf_counter() - start, t))

        txn_module.Txn.commit = commit  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        txn_module.Txn.commit = self._original  # type: ignore[method-assign]


def push_once(client: Any, team_name: str, graph: dict[str, Any], log: CommitLog) -> dict[str, Any]:
    team = Team(client, team_name)
    chain, plan = ChainStore(client, team_name).create(
        team.tasks, "Build the feature", "bench", time.time(), PlanOptions()
    )
    reg = Registration("planner-1", "planner", "/tmp", False)
    iid = team.registry.register(reg, time.time())["id"]
    actor = Actor(label=iid, instance_id=iid, name="planner-1", role="planner")
    claimed = claim_as(team.tasks, iid, time.time())
    assert claimed is not None and claimed.id == plan.id, claimed
    now = time.time()
    team.tasks.transition(plan.id, Change(Action.START, by=iid, at=iso(now)), actor, now)
    answer = PlanAnswer(raw=fenced(graph), graph=validate_graph(graph))
    session = {"session_id": "4f9a7f3e-0000-4000-8000-000000000001", "cost_usd": 0.01}
    now = time.time()
    done = Change(Action.COMPLETE, by=iid, at=iso(now), session=session)
    log.commits.clear()
    start = time.perf_counter()
    complete_plan(team.tasks, plan.id, done, actor, now, answer)
    took = time.perf_counter() - start
    commit_s, multi = max(log.commits, key=lambda c: len(c[1].ops))  # the graph's multi()
    after = ChainStore(client, team_name).get(chain.id)
    tasks = sum(len(i["tasks"]) for i in after.items.values()) + 1
    assert after.status is ChainStatus.RUNNING and tasks == 3 * len(graph["items"]) + 1, after
    start = time.perf_counter()
    size = multi.size  # one serialization of every operation, as kazoo's commit does
    serialize_s = time.perf_counter() - start
    return {
        "s": took,
        "commit_s": commit_s,
        "serialize_s": serialize_s,
        "commits": len(log.commits),
        "ops": len(multi.ops),
        "bytes": size,
        "tasks": tasks,
    }


def graph_push(hosts: str, items: int, runs: int) -> dict[str, Any]:
    graph = line_graph(items, independent=items // 5)
    client = connect(ZkOptions(hosts))
    try:
        with CommitLog() as log:
            push_once(client, "warmup", graph, log)
            results = [push_once(client, f"push{n:02d}", graph, log) for n in range(runs)]
    finally:
        disconnect(client)
    total = summary([r["s"] for r in results])
    return {
        "items": items,
        "stage_tasks_created": results[0]["tasks"],
        "multi_ops": results[0]["ops"],
        "multi_bytes": results[0]["bytes"],
        "complete_plan": total,
        "commits_per_push": max(r["commits"] for r in results),
        "multi_commit_alone": summary([r["commit_s"] for r in results]),
        "one_serialization_of_the_ops": summary([r["serialize_s"] for r in results]),
        "target_ms": PUSH_TARGET_MS,
        "target_met_at_p95": total["p95_ms"] <= PUSH_TARGET_MS,
    }


# -- 2. stage to stage, a real worker ----------------------------------------------
class Worker:
    """One worker process ``w1`` whose fake agent answers with the files of ``answers``."""

    def __init__(self, hosts: str, root: Path, team: str) -> None:
        self.root, self.answers = root, root / "answers"
        self.record = root / "calls.jsonl"
        self.answers.mkdir()
        agent = f"[{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]"
        mode = f"answers={self.answers}"
        (root / "team.toml").write_text(
            f'[team]\nname = "{team}"\n\n[agents.claude]\ncommand = {agent}\n\n'
            f'[[worker]]\nname = "w1"\n'
            f'env = {{ FAKE_AGENT_MODE = "{mode}", FAKE_AGENT_RECORD = "{self.record}" }}\n'
        )
        self.env = {**os.environ, "ZK_HOSTS": hosts, "CO_TEAM": team, "CO_INSTANCE_ID": ""}
        self.proc: subprocess.Popen[bytes] | None = None

    def give(self, *answers: str) -> None:
        """The answers in order (a chain's), from the first again."""
        for old in self.answers.iterdir():
            old.unlink()
        for n, text in enumerate(answers, 1):
            (self.answers / f"{n:04d}.txt").write_text(text)

    def start(self) -> None:
        argv = [BIN, "-f", str(self.root / "team.toml"), "worker", "--name", "w1"]
        with open(self.root / "worker.err", "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=self.root, env=self.env, stderr=err)

    def agent_pids(self) -> list[int]:
        if not self.record.exists():
            return []
        return [json.loads(line)["pid"] for line in self.record.read_text().splitlines()]

    def stop(self) -> list[int]:
        """Stop the worker; the pids (worker, agents) still running afterwards."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
        pids = ([self.proc.pid] if self.proc is not None else []) + self.agent_pids()
        return [pid for pid in pids if not exited(pid)]


def exited(pid: int) -> bool:
    try:
        return not running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def chain_answers(items: int) -> list[str]:
    answers = [fenced(line_graph(items))]
    for n in range(1, items + 1):
        answers += [f"built part {n}", verdict("pass", "tests pass"), verdict("pass", "clean")]
    return [*answers, verdict("pass", "the goal is met")]


def play_chain(team: Team, worker: Worker, items: int) -> list[Task]:
    """One chain played to ``done``; its tasks in the order the worker started them."""
    worker.give(*chain_answers(items))
    store = ChainStore(team.client, team.name)
    chain, _ = store.create(team.tasks, "Build the feature", "bench", time.time(), PlanOptions())
    stopped = FINAL | {ChainStatus.NEEDS_HUMAN}
    ended = poll(lambda: (c := store.get(chain.id)).status in stopped and c, 300, 0.1)
    if ended.status is not ChainStatus.DONE:
        raise RuntimeError(f"chain {ended.id} ended {ended.status}: {ended.reason}")
    ids = [str(ended.plan_task), str(ended.accept_task)]
    ids += [tid for item in ended.items.values() for tid in item["tasks"].values()]
    tasks = [team.tasks.get(tid) for tid in ids]
    for task in tasks:
        if task.status.value != "completed" or task.retry_count or not task.started_at:
            raise RuntimeError(f"{task.id} ({task.link}) is {task.status.value}, not a clean run")
    return sorted(tasks, key=lambda t: parse_iso(str(t.started_at)))


def gaps(tasks: list[Task]) -> list[dict[str, Any]]:
    """Each pair the worker ran back to back where the second waited on the first."""
    out = []
    for prev, nxt in itertools.pairwise(tasks):
        if prev.claimed_by != nxt.claimed_by:
            continue
        finished = parse_iso(str(prev.finished_at))
        kind = f"{prev.link}->{nxt.link}"
        row = {
            "kind": kind,
            "to_claimed": parse_iso(str(nxt.claimed_at)) - finished,
            "to_started": parse_iso(str(nxt.started_at)) - finished,
        }
        if prev.id in nxt.depends_on:
            out.append(row)
        elif prev.link == "plan" and nxt.link == "build":  # created by the plan's completion
            out.append({**row, "kind": "plan->build"})
    return out


def by_kind(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The gaps of one kind of pair, and the median of their part up to the claim."""
    claimed = summary([r["to_claimed"] for r in rows])["median_ms"]
    return {**summary([r["to_started"] for r in rows]), "to_claimed_median_ms": claimed}


def stage_to_stage(hosts: str, items: int, chains: int) -> dict[str, Any]:
    client = connect(ZkOptions(hosts))
    team = Team(client, "pipe")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="co-pipeline-") as tmp:
        worker = Worker(hosts, Path(tmp), "pipe")
        left: list[int] = []
        try:
            worker.start()
            poll(lambda: len(team.registry.ids()) == 1, 60, 0.05)
            for _ in range(chains):
                time.sleep(0.5)  # the worker back to waiting on its watches
                rows += gaps(play_chain(team, worker, items))
        finally:
            left = worker.stop()
            disconnect(client)
        agents = len(worker.agent_pids())
    if left:
        raise RuntimeError(f"processes still running after the bench: {left}")
    stages = [r for r in rows if r["kind"] != "plan->build"]
    kinds = sorted({r["kind"] for r in stages})
    total = summary([r["to_started"] for r in stages])
    return {
        "chain_items": items,
        "chains": chains,
        "agent_runs": agents,
        "pairs": len(stages),
        "finished_to_started": total,
        "finished_to_claimed": summary([r["to_claimed"] for r in stages]),
        "by_kind": {k: by_kind([r for r in stages if r["kind"] == k]) for k in kinds},
        "plan_to_first_build": summary(
            [r["to_started"] for r in rows if r["kind"] == "plan->build"]
        ),
        "target_p50_ms": STAGE_TARGET_P50_MS,
        "target_met_at_p50": total["median_ms"] <= STAGE_TARGET_P50_MS,
        "processes_left": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=30, help="items of the pushed graph")
    parser.add_argument("--runs", type=int, default=10, help="graph pushes timed")
    parser.add_argument("--chain-items", type=int, default=10, help="items of the played chain")
    parser.add_argument("--chains", type=int, default=3, help="chains the worker plays")
    args = parser.parse_args()
    with private_server() as server:
        push = graph_push(server.hosts, args.items, args.runs)
        stages = stage_to_stage(server.hosts, args.chain_items, args.chains)
        zk_pid = server.proc.pid if server.proc is not None else None
    report = {
        **header(),
        "graph_push": push,
        "stage_to_stage": stages,
        "zookeeper_exited": zk_pid is None or exited(zk_pid),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
