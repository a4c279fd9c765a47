"""The chaos suite's invariants and samplers (bench/chaos.py runs the faults).

The task check and ``overdue`` are pure functions of what was read; the two samplers (agents
found by bench/chaos_team.py's ``scan``, active tasks read from ZooKeeper) run as threads
until told to stop and report into a ``Ledger``; ``table`` is the human summary on stderr.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, TypeVar

import psutil
from kazoo.exceptions import NoNodeError

from bench.chaos_team import scan
from claude_orchestrator.zk.codec import decode
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.taskmodel import Task, task_id_of_entry

AGENT_GRACE_S = 1.0
UNHELD_LIMIT_S = 10.0
K = TypeVar("K")


# -- the invariants, as pure functions ------------------------------------------------------
def task_violations(task_id: str, rec: Task | None) -> list[dict[str, Any]]:
    """What is wrong with one pushed task once the team has drained ([] when nothing)."""
    if rec is None:
        return [{"invariant": "task lost", "task": task_id}]
    done = sum(1 for h in rec.history if h.to == "completed")
    status = rec.status
    found = {"task": task_id, "status": status, "completions": done}
    if done > 1:
        return [{"invariant": "task completed more than once", **found}]
    if status == "completed" and done == 1:
        return []
    if status == "failed" and rec.reason and done == 0:
        return []
    if status == "failed":
        return [{"invariant": "task failed without a reason", **found}]
    return [{"invariant": "task not completed once nor failed", **found}]


def overdue(current: set[K], first_seen: dict[K, float], now: float, limit: float) -> list[K]:
    """The keys seen in every sample for at least ``limit`` s; ``first_seen`` is updated
    (a key missing from a sample starts again from scratch)."""
    for key in [k for k in first_seen if k not in current]:
        del first_seen[key]
    for key in current:
        first_seen.setdefault(key, now)
    return [k for k in current if now - first_seen[k] >= limit]


def worker_errors(log_dir: Path, read_upto: dict[str, int]) -> list[dict[str, Any]]:
    """New lines of the workers' logs that start with ``error:`` — the CLI's last words when
    it ends on an error (DESIGN §6): no ZooKeeper state may end a worker. ``read_upto`` keeps
    how far each log was read."""
    found = []
    for path in sorted(log_dir.glob("w*.log")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            fh.seek(read_upto.get(path.name, 0))
            text = fh.read()
            read_upto[path.name] = fh.tell()
        for line in text.splitlines():
            if line.startswith("error:"):
                found.append(
                    {"invariant": "a worker ended on an error", "log": path.name, "line": line}
                )
    return found


class Ledger:
    """The violations found by any thread, in order, echoed to stderr as they come."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def add(self, item: dict[str, Any]) -> None:
        item = {**item, "at_s": round(time.monotonic() - self._t0, 1)}
        with self._lock:
            self.items.append(item)
        print(f"violation: {json.dumps(item)}", file=sys.stderr, flush=True)


# -- the samplers ---------------------------------------------------------------------------
def watch_agents(
    root: Path,
    ledger: Ledger,
    stop: threading.Event,
    stats: Counter[str],
    grace: float = AGENT_GRACE_S,
) -> None:
    """Every 0.1 s: an agent whose session leader has been no live worker of ours for
    ``grace`` seconds."""
    first: dict[tuple[int, int], float] = {}
    reported: set[tuple[int, int]] = set()
    while not stop.wait(0.1):
        s = scan(root)
        orphans = {(pid, sid) for pid, sid in s.sessions.items() if sid not in s.workers}
        for key in overdue(orphans, first, time.monotonic(), grace):
            if key not in reported and key[0] in scan(root).agents:
                reported.add(key)
                found = {"pid": key[0], "session": key[1], "task": _task_of(key[0])}
                ledger.add({"invariant": "agent outlived its worker", **found})
        stats["agent_samples"] += 1
        stats["agents_seen_max"] = max(stats["agents_seen_max"], len(s.agents))


def _task_of(pid: int) -> str | None:
    try:
        task = psutil.Process(pid).environ().get("CO_TASK_ID")
    except psutil.Error:
        return None
    return str(task) if task else None


def active_holders(client: Any, paths: TeamPaths) -> tuple[dict[str, str], set[str]]:
    """(active task id -> claimer, registered instance ids), each call bounded by 2 s
    (kazoo would otherwise hold a call made during an outage until the reconnect)."""
    entries = client.get_children_async(paths.state_folder("active")).get(timeout=2)
    live = set(client.get_children_async(paths.instances).get(timeout=2))
    reads = {e: client.get_async(paths.record(task_id_of_entry(e))) for e in entries}
    holders = {}
    for entry, result in reads.items():
        try:
            rec = decode(result.get(timeout=2)[0])
        except NoNodeError:
            continue  # it moved on between the listing and the read
        if rec.get("claimed_by") and rec.get("status") in ("claimed", "in_progress"):
            holders[task_id_of_entry(entry)] = rec["claimed_by"]
    return holders, live


def watch_holds(
    client: Any,
    paths: TeamPaths,
    ledger: Ledger,
    stop: threading.Event,
    stats: Counter[str],
    limit: float = UNHELD_LIMIT_S,
) -> None:
    """Every 0.5 s: an active task whose claimer has not been registered for ``limit`` s.
    A sample that fails (ZooKeeper down) starts the clocks again: nothing can be recovered
    then."""
    first: dict[tuple[str, str], float] = {}
    reported: set[tuple[str, str]] = set()
    while not stop.wait(0.5):
        try:
            holders, live = active_holders(client, paths)
        except Exception:
            first.clear()
            stats["hold_samples_failed"] += 1
            continue
        unheld = {(tid, by) for tid, by in holders.items() if by not in live}
        for key in overdue(unheld, first, time.monotonic(), limit):
            if key not in reported:
                reported.add(key)
                found = {"task": key[0], "claimed_by": key[1]}
                ledger.add({"invariant": "task held by an unregistered instance", **found})
        stats["hold_samples"] += 1


# -- the report ------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def table(rep: dict[str, Any]) -> str:
    cols = (
        "phase",
        "tasks",
        "faults",
        "seconds",
        "drain_s",
        "completed",
        "failed",
        "retries",
        "violations",
    )
    rows = [cols] + [tuple(str(row[c]) for c in cols) for row in rep.get("phases", [])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(_cells(r, widths)) for r in rows]
    lines.append(f"violations: {len(rep['violations'])}   total {rep['seconds']} s")
    return "\n".join(lines)


def _cells(row: tuple[str, ...], widths: list[int]) -> list[str]:
    """The first column left-aligned, numbers right-aligned."""
    return [row[0].ljust(widths[0])] + [
        v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)
    ]
