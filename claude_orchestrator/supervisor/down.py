"""``down`` on this host: stop the local supervisor, or clean up after a dead one.

A live supervisor is told by a signal, not through ZooKeeper, so ``down`` works at once
and with the server unreachable too: its timeout goes first into ``run/down.json``
(runfiles.py), then SIGTERM, then we wait for the process to exit. With no supervisor,
what one left running is stopped (cleanup.py), the embedded server named in its run file
too, and the run files are removed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from claude_orchestrator.conf.layout import workers_run_file
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.spawn.exited import wait_exited
from claude_orchestrator.supervisor import cleanup
from claude_orchestrator.supervisor.runfiles import (
    RunFiles,
    live_supervisor_pid,
    read_json,
    request_down,
)

#: how much longer than its ``--timeout`` a supervisor may take to exit
EXIT_GRACE = 30.0


def down(
    state_dir: Path, timeout: float, team: Callable[[], Any], embedded: bool
) -> dict[str, Any]:
    """Stop what runs for ``state_dir``; the reply says what was stopped. ``team`` opens
    the team in ZooKeeper (only called to release a dead supervisor's workers' tasks);
    ``embedded``: the team runs on its embedded server, which is stopped too."""
    pid = live_supervisor_pid(state_dir)
    if pid is not None:
        return stop_supervisor(state_dir, pid, timeout)
    return clean_up(state_dir, timeout, team, embedded)


def stop_supervisor(state_dir: Path, pid: int, timeout: float) -> dict[str, Any]:
    """Ask supervisor ``pid`` to stop its workers within ``timeout``, and wait for it."""
    workers = sorted(read_json(workers_run_file(state_dir)) or {})
    request_down(state_dir, pid, timeout)
    os.kill(pid, signal.SIGTERM)
    _wait_gone(pid, timeout + EXIT_GRACE)
    return {"stopped": workers, "supervisor": "stopped"}


def _wait_gone(pid: int, timeout: float) -> None:
    """Until ``pid`` has exited. A zombie has: ``up -d`` detached the supervisor, so its
    parent is gone and only init's reaping is left (spawn/exited.py)."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    if wait_exited([proc], timeout):
        raise OrchestratorError(f"the supervisor (pid {pid}) did not stop in time")


def clean_up(
    state_dir: Path, timeout: float, team: Callable[[], Any], embedded: bool
) -> dict[str, Any]:
    """No supervisor runs: stop the workers one left (their tasks released when ZooKeeper
    answers), the recorded embedded server, and remove the run files."""
    from claude_orchestrator.supervisor.embedded import stop_recorded_server

    pids = cleanup.recorded_workers(state_dir)
    stopped = cleanup.stop_groups(pids, timeout)
    if pids:
        try:
            cleanup.release_tasks(team(), pids)
        except OrchestratorError:
            pass  # ZooKeeper unreachable: the leader's sweep recovers them later
    server = stop_recorded_server(state_dir) if embedded else False
    RunFiles(state_dir).clear()
    return {
        "stopped": stopped,
        "supervisor": "not running",
        "zookeeper": "stopped" if server else "untouched",
    }
