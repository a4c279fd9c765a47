"""The project's own chaos suite: a team of 4 fake-agent workers under faults.

Phases, each pushing its share of the tasks (``fake-agent:sleep=0.2``), injecting its fault,
then letting the team drain and checking every task pushed so far:

  kills       SIGKILL a random worker or a random agent every ~0.5 s
  supervisor  SIGKILL the supervisor and start it again with ``up -d``
  zk-restart  kill ZooKeeper, start it again 3 s later (same port and data: sessions survive)
  zk-freeze   SIGSTOP ZooKeeper for 13 s, longer than the 10 s session timeout (they expire)
  freeze      SIGSTOP a worker that runs an agent for 13 s, then SIGCONT

Invariants: every task completed exactly once (one history entry to "completed") or failed
with a reason, none lost or left unfinished; no agent still running 1 s after its worker
(its session leader) is gone, sampled every 0.1 s; no active task held by an instance that
has not been registered for 10 s while ZooKeeper answers, sampled every 0.5 s; no worker ends
on an error (an ``error:`` line in its log); nothing of the team left running after ``down``,
nor of ours after the bench stops its ZooKeeper.

Prints one JSON object on stdout and a table on stderr; exits 1 on any violation.

    .venv/bin/python bench/chaos.py [--short] [--seed N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaos_checks import (
    Ledger,
    cpu_model,
    table,
    task_violations,
    watch_agents,
    watch_holds,
    worker_errors,
)
from bench.chaos_team import (
    TEAM,
    WORKERS,
    Project,
    age_s,
    freeze,
    scan,
    sigkill,
    stop_all,
)
from bench.common import header, poll, summary
from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.supervisor.zkserver import ZkServer
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.codec import parse_iso
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.query import counts
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.team import Team

KILL_EVERY_S = 0.5
#: a worker younger than this is not a victim: its death would count as a failed start, which
#: backs off and after 5 makes the worker fatal by design (not what this suite measures)
MIN_VICTIM_UPTIME_S = 2.0
ZK_RESTART_S = 3.0
FREEZE_S = 13.0  # past the 10 s session timeout
DRAIN_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Plan:
    kill_tasks: int
    kills: int
    supervisor_tasks: int
    supervisor_kills: int
    zk_restart_tasks: int
    zk_freeze_tasks: int  # 0: no long ZooKeeper outage
    freeze_tasks: int  # 0: no frozen worker


#: push tasks until the phase has pushed this share of its total
Feed = Callable[[float], None]
FULL = Plan(150, 150, 50, 5, 30, 30, 40)
SHORT = Plan(20, 20, 10, 1, 10, 0, 0)


class Chaos:
    """The phases: each pushes its tasks, injects its fault, drains and checks."""

    def __init__(self, project: Project, zk: ZkServer, team: Team, seed: int, ledger: Ledger):
        self.project, self.zk, self.team = project, zk, team
        self.rng = random.Random(seed)
        self.ledger = ledger
        self.stats: Counter[str] = Counter()
        self.busy_kills: list[tuple[float, str]] = []  # (when, worker name): killed mid-task
        self.ids: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.records: dict[str, Task | None] = {}
        self._reported: set[tuple[str, str]] = set()
        self._log_read: dict[str, int] = {}

    def phase(self, name: str, tasks: int, fault: Callable[[Feed], int], first: float = 1) -> None:
        """Push the ``first`` share of the phase's tasks, let ``fault`` run (it may push more
        through the feed it is given), push the rest, drain, check, add a row."""
        if tasks <= 0:
            return
        t0, before = time.monotonic(), len(self.ledger.items)
        ids: list[str] = []

        def feed(share: float) -> None:
            if (want := min(tasks, math.ceil(share * tasks)) - len(ids)) > 0:
                spec = {"title": f"chaos {name}", "description": "fake-agent:sleep=0.2"}
                ids.extend(self.push(validate_spec(spec, name), want))

        feed(first)
        faults = fault(feed)
        feed(1)
        drain_s = self.drain()
        self.check()
        recs = [r for i in ids if (r := self.records[i]) is not None]
        self.rows.append(
            {
                "phase": name,
                "tasks": tasks,
                "faults": faults,
                "seconds": round(time.monotonic() - t0, 1),
                "drain_s": round(drain_s, 1),
                "completed": sum(r.status == "completed" for r in recs),
                "failed": sum(r.status == "failed" for r in recs),
                "retries": sum(r.retry_count for r in recs),
                "violations": len(self.ledger.items) - before,
            }
        )
        print(f"chaos: {json.dumps(self.rows[-1])}", file=sys.stderr, flush=True)

    def push(self, spec: dict[str, Any], n: int) -> list[str]:
        ids = [r.id for r in push(self.team.tasks, [spec] * n, "chaos", time.time())]
        self.ids += ids
        return ids

    # -- faults -------------------------------------------------------------------------
    def kill_storm(self, kills: int) -> int:
        done, last = 0, time.monotonic()
        while done < kills:
            time.sleep(KILL_EVERY_S * self.rng.uniform(0.8, 1.2))  # the fault's pace
            kind = self.rng.choice(("worker", "agent"))
            other = "agent" if kind == "worker" else "worker"
            if self.kill_one(kind) or self.kill_one(other):
                done, last = done + 1, time.monotonic()
            elif time.monotonic() - last > 60:
                self.ledger.add({"invariant": "no worker of the team running for 60 s"})
                break
        return done

    def kill_one(self, kind: str) -> bool:
        s = scan(self.project.root)
        if kind == "agent":
            pool = list(s.agents.values())
        else:
            # a busy worker when there is one: killing it in the middle of a task is the case
            # that matters (its agent, its claim); an idle one otherwise
            grown = [p for p in s.workers.values() if age_s(p) >= MIN_VICTIM_UPTIME_S]
            busy = set(s.sessions.values())
            pool = [p for p in grown if p.pid in busy] or grown
        victim = self.rng.choice(pool) if pool else None
        name = worker_name(victim) if kind == "worker" and victim is not None else ""
        at = time.time()
        if victim is None or not sigkill(victim):
            return False
        if name and victim.pid in s.sessions.values():
            self.busy_kills.append((at, name))
        self.stats[f"{kind}_kills"] += 1
        self.stats["kills_during_a_task"] += kind == "agent" or victim.pid in s.sessions.values()
        return True

    def supervisor_kills(self, times: int, feed: Feed) -> int:
        """Each kill meets its share of the tasks in flight; the team drains and is checked
        after each."""
        done = 0
        for i in range(times):
            feed((i + 1) / times)
            self.wait_active()
            sup = self.project.supervisor()
            if sup is None or not sigkill(sup):
                self.ledger.add({"invariant": "no live supervisor to kill"})
                continue
            self.restart_supervisor()
            done += 1
            self.drain()
            self.check()
        return done

    def restart_supervisor(self) -> None:
        t0 = time.monotonic()
        r = self.project.cli("up", "-d", "--wait", "120s", timeout=180)
        ms = int((time.monotonic() - t0) * 1000)
        self.stats["up_after_kill_ms_max"] = max(self.stats["up_after_kill_ms_max"], ms)
        if r.returncode != 0:
            err = {"stderr": r.stderr[-600:]}
            self.ledger.add({"invariant": "up -d refused after a supervisor kill", **err})

    def zk_restart(self) -> int:
        self.wait_active()
        self.zk.kill()
        time.sleep(ZK_RESTART_S)  # the outage
        self.zk.start()
        return 1

    def zk_freeze(self) -> int:
        """Past the session timeout: when the bench's own session expired (its client has a
        new session id), wait until every worker has registered again under a new instance."""
        self.wait_active()
        before, session = self.instance_ids(), self.session_id()
        proc = self.zk.proc
        if proc is None or proc.pid is None:
            raise RuntimeError("ZooKeeper is not running")
        freeze(proc.pid, FREEZE_S)

        def settled() -> set[str] | None:
            ids = self.instance_ids()  # answered only once the client is connected again
            expired = self.session_id() != session
            return ids if len(ids) >= WORKERS and not (expired and ids & before) else None

        after: set[str] = poll(settled, 60, 0.1)
        self.stats["zk_freeze_expired_sessions"] = self.session_id() != session
        self.stats["workers_re_registered_after_zk_freeze"] = len(before - after)
        return 1

    def session_id(self) -> int | None:
        cid = self.team.client.client_id
        return int(cid[0]) if cid else None

    def worker_freeze(self) -> int:
        def busy() -> int | None:
            s = scan(self.project.root)
            sids = [sid for sid in s.sessions.values() if sid in s.workers]
            return sids[0] if sids else None

        freeze(poll(busy, 60, 0.05), FREEZE_S)
        return 1

    # -- reading the team ---------------------------------------------------------------
    def wait_active(self) -> None:
        """Until some task is in flight, so that the fault meets work."""
        try:
            poll(lambda: self.count("active") > 0, 30, 0.05)
        except TimeoutError:
            pass  # nothing in flight: the fault still happens

    def count(self, *folders: str) -> int:
        try:
            c = counts(self.team.tasks)
        except Exception:  # ZooKeeper still out: not drained yet
            return -1
        return sum(c[f] for f in folders)

    def instance_ids(self) -> set[str]:
        try:
            return set(self.team.registry.ids())
        except Exception:  # ZooKeeper still out
            return set()

    def registered(self, n: int) -> set[str] | None:
        ids = self.instance_ids()
        return ids if len(ids) >= n else None

    def drain(self) -> float:
        t0 = time.monotonic()
        try:
            poll(lambda: self.count("pending", "waiting", "active") == 0, DRAIN_TIMEOUT_S, 0.1)
        except TimeoutError:
            pass  # the check names every unfinished task
        return time.monotonic() - t0

    def check(self) -> None:
        log_dir = self.project.root / ".claude-orchestrator" / "logs"
        for item in worker_errors(log_dir, self._log_read):
            self.ledger.add(item)
        for tid in self.ids:
            try:
                self.records[tid] = self.team.tasks.get(tid)
            except NotFoundError:
                self.records[tid] = None
            for v in task_violations(tid, self.records[tid]):
                if (v["invariant"], tid) not in self._reported:
                    self._reported.add((v["invariant"], tid))
                    self.ledger.add(v)

    def check_listing(self) -> None:
        """The CLI's view: list-tasks --json holds exactly the pushed ids."""
        r = self.project.cli("list-tasks", "--json")
        listed = {t["id"] for t in json.loads(r.stdout)} if r.returncode == 0 else set()
        if r.returncode != 0 or listed != set(self.ids):
            self.ledger.add(
                {
                    "invariant": "list-tasks does not show exactly the pushed tasks",
                    "missing": sorted(set(self.ids) - listed)[:20],
                    "extra": sorted(listed - set(self.ids))[:20],
                    "stderr": r.stderr[-300:],
                }
            )


# -- one run --------------------------------------------------------------------------------
def run_phases(chaos: Chaos, plan: Plan) -> None:
    chaos.phase("kills", plan.kill_tasks, lambda _: chaos.kill_storm(plan.kills))
    sup_kills = partial(chaos.supervisor_kills, plan.supervisor_kills)
    chaos.phase("supervisor", plan.supervisor_tasks, sup_kills, first=0)
    chaos.phase("zk-restart", plan.zk_restart_tasks, lambda _: chaos.zk_restart())
    chaos.phase("zk-freeze", plan.zk_freeze_tasks, lambda _: chaos.zk_freeze())
    chaos.phase("freeze", plan.freeze_tasks, lambda _: chaos.worker_freeze())
    chaos.check_listing()


def run(root: Path, plan: Plan, seed: int) -> tuple[Chaos | None, Ledger, float]:
    """Start ZooKeeper and the team, run the phases, stop everything (even on failure)."""
    t0 = time.monotonic()
    project = Project(root)
    zk = ZkServer(root / "zookeeper-data")
    ledger, chaos, client = Ledger(), None, None
    stop, threads = threading.Event(), []
    try:
        zk.start()
        project.write_team(zk.port)
        up = project.cli("up", "-d", "--wait", "120s", timeout=180)
        if up.returncode != 0:
            raise RuntimeError(f"up -d failed: {up.stderr.strip()}")
        client = connect(ZkOptions(zk.hosts, auth=project.secret))
        chaos = Chaos(project, zk, Team(client, TEAM), seed, ledger)
        threads = [
            threading.Thread(target=watch_agents, args=(root, ledger, stop, chaos.stats)),
            threading.Thread(
                target=watch_holds, args=(client, TeamPaths(TEAM), ledger, stop, chaos.stats)
            ),
        ]
        for t in threads:
            t.start()
        run_phases(chaos, plan)
    except Exception as exc:  # a bench that cannot finish is a failed run, still reported
        ledger.add({"invariant": "the run did not finish", "error": repr(exc)})
    finally:
        stop.set()
        for t in threads:
            t.join()
        if client is not None:
            disconnect(client)
        for item in stop_all(project, zk):
            ledger.add(item)
    return chaos, ledger, time.monotonic() - t0


# -- the report -----------------------------------------------------------------------------
def worker_name(proc: psutil.Process) -> str:
    try:
        argv = proc.cmdline()  # ... worker --name NAME
    except psutil.Error:
        return ""
    return str(argv[-1]) if argv else ""


def requeue_latencies(kills: list[tuple[float, str]], recs: list[Task]) -> dict[str, float]:
    """Kill of a busy worker → the supervisor's recovery of its task, from the task's history
    (the entry is stamped as the recovery starts, after the dead worker's session is gone; the
    commit follows within a round trip)."""
    recovered: dict[str, list[float]] = {}
    for rec in recs:
        for entry in rec.history:
            note = entry.note or ""
            if note.startswith("recovered: worker ") and note.endswith(" died (supervisor)"):
                name = note[len("recovered: worker ") : -len(" died (supervisor)")]
                recovered.setdefault(name, []).append(parse_iso(entry.at))
    samples = []
    for at, name in kills:
        later = [t for t in recovered.get(name, []) if t >= at]
        if later:
            samples.append(min(later) - at)
    return summary(samples) if samples else {"n": 0}


def report(
    chaos: Chaos | None, ledger: Ledger, plan: Plan, seed: int, took: float
) -> dict[str, Any]:
    out: dict[str, Any] = {**header(), "cpu": cpu_model(), "load_avg_end": os.getloadavg()}
    out |= {"seed": seed, "plan": asdict(plan)}
    if chaos is not None:
        recs = [r for r in chaos.records.values() if r is not None]
        reasons = Counter(str(r.reason)[:80] for r in recs if r.status == "failed")
        out |= {
            "phases": chaos.rows,
            "stats": dict(chaos.stats),
            "requeue_after_worker_kill": requeue_latencies(chaos.busy_kills, recs),
            "tasks": {
                "pushed": len(chaos.ids),
                "completed": sum(r.status == "completed" for r in recs),
                "failed": sum(r.status == "failed" for r in recs),
                "retries": sum(r.retry_count for r in recs),
                "failed_reasons": dict(reasons),
                "failed_ids": [
                    {"id": r.id, "retry_count": r.retry_count, "max_retries": r.max_retries}
                    for r in recs
                    if r.status == "failed"
                ][:20],
            },
        }
    return out | {"seconds": round(took, 1), "violations": ledger.items, "ok": not ledger.items}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="40 tasks, 20 kills, ~1 min")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the team dir (logs)")
    args = parser.parse_args()
    plan = SHORT if args.short else FULL
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    root = Path(tempfile.mkdtemp(prefix="co-chaos-")).resolve()
    chaos, ledger, took = run(root, plan, seed)
    rep = report(chaos, ledger, plan, seed, took)
    print(json.dumps(rep, indent=2))
    print(table(rep), file=sys.stderr)
    if args.keep or ledger.items:
        print(f"team dir kept: {root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if rep["ok"] else 1)


if __name__ == "__main__":
    main()
