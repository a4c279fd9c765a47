"""The worker's command line, and recognising a supervisor of ours by its pid.

Each worker runs as ``claude-orchestrator -f TEAM worker --name NAME`` (argv visible in
``ps``). Starting, signalling and reaping it is the spawn layer's (spawn/process.py,
spawn/kill.py), as for every child.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cli_argv() -> list[str]:
    """How to run this installation's CLI: the console script, else ``python -m``."""
    script = Path(sys.executable).parent / "claude-orchestrator"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "claude_orchestrator.cli.main"]


def worker_argv(team_file: Path | None, name: str, role: str | None = None) -> list[str]:
    """With a team file the worker reads its entry there; without one (``run``) the
    supervisor's role for it goes on the command line."""
    team = ["-f", str(team_file)] if team_file is not None else []
    role_arg = ["--role", role] if team_file is None and role else []
    return [*cli_argv(), *team, "worker", "--name", name, *role_arg]


def is_supervisor(pid: int) -> bool:
    """Whether ``pid`` is a live supervisor of ours: running (a zombie has exited), owned
    by our user, and our CLI's ``up``, ``leader`` or ``run`` - not whatever reused the pid."""
    import psutil

    if pid <= 0 or pid == os.getpid():
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
            return False
        argv = proc.cmdline()
    except psutil.Error:
        return False
    ours = any(_is_our_cli(arg) for arg in argv[:3])
    return ours and any(verb in argv for verb in ("up", "leader", "run"))


def _is_our_cli(arg: str) -> bool:
    name = os.path.basename(arg)
    return name in ("claude-orchestrator", "corch") or arg == "claude_orchestrator.cli.main"
