"""Why a worker exited, in one line for ``ps``, the dashboard and ``up``: how it ended plus
the last error line of its log (the cause used to be only in ``logs/<name>.log``)."""

from __future__ import annotations

import os
from pathlib import Path

from claude_orchestrator.spawn.exitstatus import ExitStatus

TAIL_BYTES = 4096
MAX_REASON = 300


def exit_reason(status: ExitStatus, log_path: Path) -> str:
    """``exited 2: error: cannot execute 'claude': command not found``, or just how it
    ended when the log holds nothing to add."""
    how = status.describe()
    line = last_error_line(log_path)
    return f"{how}: {line}" if line else how


def last_error_line(log_path: Path) -> str | None:
    """The last ``error:`` line of the log's tail, else its last line; None when empty."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - TAIL_BYTES))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    errors = [line for line in lines if line.startswith("error:")]
    chosen = errors[-1] if errors else lines[-1]
    return chosen[:MAX_REASON]
