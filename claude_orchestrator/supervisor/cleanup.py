"""``down`` when no supervisor answers: clean up what a dead one left running.

Worker process groups named in ``run/workers.json`` (checked to really be our
workers, so a reused pid is never hit) are stopped — TERM, then KILL after
the timeout — their tasks are released without counting a retry and their
instance nodes removed when ZooKeeper is reachable, and the embedded server
named in its run file is stopped.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import psutil

from claude_orchestrator.conf.layout import workers_run_file
from claude_orchestrator.spawn.exited import wait_exited
from claude_orchestrator.spawn.kill import kill_group, signal_group
from claude_orchestrator.supervisor.runfiles import read_json


def recorded_workers(state_dir: Path) -> dict[str, int]:
    """name → pid of the recorded workers that are still alive and really ours."""
    table = read_json(workers_run_file(state_dir))
    out = {}
    for name, info in (table or {}).items():
        pid = info.get("pid") if isinstance(info, dict) else None
        if isinstance(pid, int) and _is_our_worker(pid, name):
            out[name] = pid
    return out


def _is_our_worker(pid: int, name: str) -> bool:
    try:
        argv = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return "worker" in argv and name in argv


def stop_groups(pids: dict[str, int], timeout: float) -> list[str]:
    """TERM each group, wait up to ``timeout`` for all, KILL what is left."""
    for pid in pids.values():
        signal_group(pid, signal.SIGTERM)
    procs = []
    for pid in pids.values():
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    for proc in wait_exited(procs, timeout):  # orphans: a zombie has exited (init reaps it)
        kill_group(proc.pid)
    for pid in pids.values():
        kill_group(pid)  # whatever of each group outlived its leader
    return sorted(pids)


def release_tasks(team: Any, pids: dict[str, int]) -> None:
    from claude_orchestrator.zk.recovery import release_worker

    for name, pid in pids.items():
        release_worker(team.tasks, name, pid, time.time())
