"""The checks the orchestrator runs itself after a build (issue 11 §4; docs/pipelines.md).

``[pipeline] checks`` are argv lists, run in order in the worker's work dir with the agent's
environment (never the team's credential), no shell, each in a process group of its own with
``check_timeout``: at the deadline the whole group is killed. Each run is recorded as
``{argv, exit_code, duration_ms, output_tail}`` (the last ``TAIL`` bytes of stdout and stderr
together). The first failing check stops the rest: a build that fails a check goes back as a
``revise`` with that check's output, before any verifier spends time on it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_orchestrator.spawn.kill import kill_group

TAIL = 4096  # bytes of a check's output kept on the task
TIMED_OUT = -1  # the exit_code of a check killed at its deadline


def run_checks(
    checks: Sequence[Sequence[str]],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    started: Callable[[int | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``checks`` in order until one fails; one record each. ``started`` hears each
    check's pid (its process group's id) when it starts, and None when it has ended."""
    records = []
    for argv in checks:
        record = run_check(list(argv), cwd, env, timeout, started)
        records.append(record)
        if record["exit_code"] != 0:
            break
    return records


def run_check(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    started: Callable[[int | None], None] | None = None,
) -> dict[str, Any]:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:  # not found, not executable: a failing check, said plainly
        return _record(argv, 127, start, f"could not start {argv[0]!r}: {exc}".encode())
    if started is not None:
        started(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, _ = proc.communicate()
        out += f"\n[killed after {timeout:g}s]".encode()
        code = TIMED_OUT
    finally:
        if started is not None:
            started(None)
    return _record(argv, code, start, out)


def failed(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((r for r in records if r["exit_code"] != 0), None)


def check_verdict(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``revise`` a failing check makes of a build."""
    shown = " ".join(record["argv"])
    code = record["exit_code"]
    how = "timed out" if code == TIMED_OUT else f"exited {code}"
    return {
        "verdict": "revise",
        "reason": f"the check `{shown}` {how}",
        "feedback": [f"make `{shown}` pass; its output ends with:\n{record['output_tail']}"],
        "evidence": None,
    }


def _record(argv: list[str], code: int, start: float, out: bytes) -> dict[str, Any]:
    return {
        "argv": argv,
        "exit_code": code,
        "duration_ms": int((time.monotonic() - start) * 1000),
        "output_tail": out[-TAIL:].decode("utf-8", errors="replace"),
    }
