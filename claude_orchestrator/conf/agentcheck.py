"""The agent's program and work dir must be usable before a worker starts: a missing,
non-executable or broken ``claude`` (or a missing work dir) is one clear error at ``up`` or
``worker`` start, not a crash loop with the cause in a log file. ``program_problem`` also
names the cause when a start fails at run time anyway (spawn/process.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from claude_orchestrator.conf.agents import AgentSpec
from claude_orchestrator.conf.team import WorkerSpec
from claude_orchestrator.errors import ConfigError

_SHEBANG_BYTES = 256


def check_agent_command(worker: str, agent: AgentSpec, work_dir: Path) -> None:
    """ConfigError when worker ``worker`` cannot start ``agent``'s program in ``work_dir``.

    A bare name is looked up on the PATH the agent gets (its team-file env, else ours);
    a path with a slash is relative to the work directory, as the agent is started there."""
    where = work_dir_problem(work_dir)
    if where is not None:
        raise ConfigError(
            f"worker '{worker}': work dir '{work_dir}' {where}; create it, or set work_dir "
            "in the team file (or --work-dir)"
        )
    if not agent.command:
        raise ConfigError(f"worker '{worker}': agent '{agent.name}' has an empty command")
    program = agent.command[0]
    path = agent.env.get("PATH") or os.environ.get("PATH", os.defpath)
    problem = program_problem(resolve_program(program, path, work_dir), program)
    if problem is not None:
        verb = "install it" if problem.startswith("command not found") else "fix it"
        fix = f"{verb}, or set [agents.{agent.name}] command in the team file"
        raise ConfigError(
            f"worker '{worker}': cannot execute {program!r} (agent '{agent.name}'): "
            f"{problem}; {fix}"
        )


def check_agents(workers: Iterable[WorkerSpec], agents: Mapping[str, AgentSpec]) -> None:
    """Check every worker's agent (``agents``: worker name -> its agent)."""
    for w in workers:
        check_agent_command(w.name, agents[w.name], w.work_dir)


def resolve_program(program: str, path: str, cwd: Path) -> Path | None:
    """Where ``program`` is: relative to ``cwd`` with a slash, else the first executable on
    ``path`` — or, when none is, the first file of that name there (to say what is wrong
    with it). None when there is nothing of that name."""
    if "/" in program:
        return cwd / Path(program).expanduser()
    found = shutil.which(program, path=path)
    if found is not None:
        return Path(found)
    for folder in filter(None, path.split(os.pathsep)):
        candidate = Path(folder) / program
        if candidate.exists():
            return candidate
    return None


def program_problem(full: Path | None, program: str) -> str | None:
    """Why ``full`` (``program`` resolved) cannot be executed, or None if it looks fine."""
    if full is None:
        return "command not found on PATH"
    if not full.exists():
        return "command not found (no such file)" if "/" in program else "command not found on PATH"
    if full.is_dir():
        return "it is a directory"
    if not os.access(full, os.X_OK):
        return "not executable (permission denied)"
    return _interpreter_problem(full)


def _interpreter_problem(script: Path) -> str | None:
    """A ``#!`` line naming an interpreter that is missing or not executable."""
    try:
        with open(script, "rb") as f:
            head = f.read(_SHEBANG_BYTES)
    except OSError as err:
        return f"cannot read it ({err.strerror})"
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    if not words:
        return "bad interpreter: its '#!' line names none"
    interpreter = os.fsdecode(words[0])
    if not os.path.isfile(interpreter):
        return f"bad interpreter {interpreter!r} (its '#!' line): no such file"
    if not os.access(interpreter, os.X_OK):
        return f"bad interpreter {interpreter!r} (its '#!' line): not executable"
    return None


def work_dir_problem(work_dir: Path) -> str | None:
    """Why an agent cannot be started in ``work_dir``, or None."""
    if not work_dir.exists():
        return "does not exist"
    if not work_dir.is_dir():
        return "is not a directory"
    if not os.access(work_dir, os.R_OK | os.X_OK):
        return "is not accessible (permission denied)"
    return None
