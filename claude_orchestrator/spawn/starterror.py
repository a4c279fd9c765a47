"""Why a program could not be started, in the words of the check at start
(conf/agentcheck.py): ``cannot execute 'claude': command not found``."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from claude_orchestrator.conf.agentcheck import program_problem, resolve_program


def start_error(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], err: OSError | ValueError
) -> str:
    """The message for ``err``, raised by ``Popen(argv, cwd=cwd, env=env)``."""
    command = f"cannot execute {argv[0]!r}"
    if not isinstance(err, OSError):
        return f"{command}: {err}"
    if err.filename is not None and os.fspath(err.filename) == os.fspath(cwd):
        return f"{command}: working directory {cwd}: {err.strerror}"
    problem = _diagnose(argv[0], cwd, env)
    if problem is not None:
        return f"{command}: {problem}"
    if err.errno == errno.ENOEXEC:
        return f"{command}: not a program (exec format error; a script needs a '#!' line)"
    if isinstance(err, FileNotFoundError):
        return f"{command}: command not found"
    if isinstance(err, PermissionError):
        return f"{command}: not executable (permission denied)"
    return f"{command}: {err.strerror or err}"


def _diagnose(program: str, cwd: Path, env: Mapping[str, str]) -> str | None:
    """What is wrong with the program, looked up as execve did (the child's PATH, its cwd)."""
    path = env.get("PATH", os.defpath)
    return program_problem(resolve_program(program, path, cwd), program)
