"""The supervisor's run files: pid, the workers it runs, and "the team is up".

``run/supervisor.pid`` keeps one supervisor per state dir (a live pid refuses
a second one); ``run/workers.json`` lets ``down`` clean up after a
supervisor that died; ``run/supervisor.ready`` tells a detaching ``up -d``
that the team is up. All written atomically, 0600, in a 0700 directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.layout import run_dir, supervisor_pid_file, workers_run_file
from claude_orchestrator.supervisor.leadership import AlreadyRunningError


def ready_file(state_dir: Path) -> Path:
    return run_dir(state_dir) / "supervisor.ready"


def down_file(state_dir: Path) -> Path:
    return run_dir(state_dir) / "down.json"


def request_down(state_dir: Path, pid: int, timeout: float) -> None:
    """Tell supervisor ``pid`` the ``down --timeout`` before signalling it (a signal
    carries no argument; the file is private to our user)."""
    write_private(down_file(state_dir), {"pid": pid, "timeout": timeout})


def take_down_request(state_dir: Path) -> float | None:
    """The timeout a ``down`` left for this process, once (None: none left)."""
    path = down_file(state_dir)
    data = read_json(path)
    path.unlink(missing_ok=True)
    if not isinstance(data, dict) or data.get("pid") != os.getpid():
        return None
    timeout = data.get("timeout")
    return float(timeout) if isinstance(timeout, (int, float)) and timeout >= 0 else None


def write_private(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def live_supervisor_pid(state_dir: Path) -> int | None:
    """The pid in the pid file if that process is a live supervisor of ours."""
    from claude_orchestrator.supervisor.procs import is_supervisor

    pid = read_json(supervisor_pid_file(state_dir))
    return pid if isinstance(pid, int) and is_supervisor(pid) else None


class RunFiles:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def claim_pid_file(self) -> None:
        other = live_supervisor_pid(self.state_dir)
        if other is not None:
            raise AlreadyRunningError(
                f"a supervisor for this team is already running (pid {other}); "
                "'up' talks to it, 'down' stops it"
            )
        ready_file(self.state_dir).unlink(missing_ok=True)
        write_private(supervisor_pid_file(self.state_dir), os.getpid())

    def release_pid_file(self) -> None:
        """Remove the pid file if it is ours (a start that failed)."""
        if read_json(supervisor_pid_file(self.state_dir)) == os.getpid():
            supervisor_pid_file(self.state_dir).unlink(missing_ok=True)

    def write_workers(self, slots: Mapping[str, Any]) -> None:
        table = {name: {"pid": slot.pid} for name, slot in slots.items() if slot.pid}
        write_private(workers_run_file(self.state_dir), table)

    def write_ready(self, hosts: str, summary: Mapping[str, str]) -> None:
        write_private(
            ready_file(self.state_dir),
            {"pid": os.getpid(), "hosts": hosts, "workers": dict(summary)},
        )

    def clear(self) -> None:
        for path in (
            supervisor_pid_file(self.state_dir),
            workers_run_file(self.state_dir),
            ready_file(self.state_dir),
        ):
            if read_json(path) == os.getpid() or path.name != "supervisor.pid":
                path.unlink(missing_ok=True)
