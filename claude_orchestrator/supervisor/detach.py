"""``up -d``: start the supervisor in a session of its own and wait until the team is up.

The detached supervisor's output goes to ``logs/supervisor.log``; it writes
``run/supervisor.ready`` (runfiles.py) once every started worker has registered. The
caller waits for that file, bounded by ``--wait``, and reports a supervisor that exited
first with the tail of its log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claude_orchestrator.conf.settings import Settings
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.spawn.process import Child, ChildSpec
from claude_orchestrator.supervisor.procs import cli_argv
from claude_orchestrator.supervisor.runfiles import read_json, ready_file


def detach(settings: Settings, args: Sequence[str], wait_s: float) -> dict[str, Any]:
    """Run our CLI with ``args`` (``-f TEAM … up … --supervise``) detached; return what it
    wrote to the ready file (``{pid, hosts, workers}``) once the team is up."""
    log_path = settings.state_dir / "logs" / "supervisor.log"
    ready_file(settings.state_dir).unlink(missing_ok=True)
    argv = (*cli_argv(), *args)
    root = settings.team_config.root
    child = Child(ChildSpec(argv, root, dict(os.environ), output=log_path, new_session=True))
    child.start()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        ready = read_json(ready_file(settings.state_dir))
        if isinstance(ready, dict) and ready.get("pid") == child.pid:
            return ready
        ended = child.wait(0)
        if ended is not None:
            raise OrchestratorError(
                f"the supervisor exited ({ended.returncode}):\n{_tail(log_path)}"
            )
        time.sleep(0.05)  # waiting for another process's file, bounded by --wait
    raise OrchestratorError(f"the team did not come up within {wait_s:g}s; see {log_path}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
