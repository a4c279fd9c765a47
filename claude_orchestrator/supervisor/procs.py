"""Worker processes as the supervisor sees them: spawn, signal the group, reap.

Each worker runs as ``claude-orchestrator -f TEAM worker --name NAME`` (argv
visible in ``ps``) in its own session and process group, with its output
appended to ``logs/<name>.log`` (0600). One waiter thread per child blocks in
``Popen.wait()`` — the one place a child is reaped — and posts the exit to
the supervisor's queue, so a death is seen the moment it happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.errors import SpawnError


@dataclass(frozen=True)
class Reaped:
    """A child the waiter thread has reaped."""

    name: str
    pid: int
    returncode: int
    at: float  # time.monotonic()

    @property
    def exit_code(self) -> int | None:
        return self.returncode if self.returncode >= 0 else None

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


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


def spawn(
    name: str,
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_exit: Callable[[Reaped], None],
) -> subprocess.Popen[bytes]:
    """Start one child in its own process group; ``on_exit`` is called from its waiter."""
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise SpawnError(f"cannot start worker {name}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    threading.Thread(target=_waiter, args=(name, proc, on_exit), daemon=True).start()
    return proc


def _waiter(name: str, proc: subprocess.Popen[bytes], on_exit: Callable[[Reaped], None]) -> None:
    code = proc.wait()
    on_exit(Reaped(name, proc.pid, code, time.monotonic()))


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


def describe_returncode(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited {code}"
