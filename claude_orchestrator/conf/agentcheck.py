"""The agent's program must exist before a worker starts: a missing ``claude`` is one clear
error at ``up`` or ``worker`` start, not a crash loop with the cause in a log file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from claude_orchestrator.conf.agents import AgentSpec
from claude_orchestrator.conf.team import WorkerSpec
from claude_orchestrator.errors import ConfigError


def check_agent_command(worker: str, agent: AgentSpec, work_dir: Path) -> None:
    """ConfigError when ``agent``'s program cannot be executed by worker ``worker``.

    A bare name is looked up on the PATH the agent gets (its team-file env, else ours);
    a path with a slash is relative to the work directory, as the agent is started there."""
    if not agent.command:
        raise ConfigError(f"worker '{worker}': agent '{agent.name}' has an empty command")
    program = agent.command[0]
    if "/" not in program:
        path = agent.env.get("PATH") or os.environ.get("PATH", os.defpath)
        if shutil.which(program, path=path) is None:
            raise ConfigError(
                f"worker '{worker}': cannot execute {program!r} (agent '{agent.name}'): "
                f"command not found on PATH; install it, or set [agents.{agent.name}] "
                "command in the team file"
            )
        return
    full = work_dir / Path(program).expanduser()
    if not (full.is_file() and os.access(full, os.X_OK)):
        problem = "not executable" if full.is_file() else "no such file"
        raise ConfigError(
            f"worker '{worker}': cannot execute {program!r} (agent '{agent.name}'): {problem}"
        )


def check_agents(workers: Iterable[WorkerSpec], agents: Mapping[str, AgentSpec]) -> None:
    """Check every worker's agent (``agents``: worker name -> its agent)."""
    for w in workers:
        check_agent_command(w.name, agents[w.name], w.work_dir)
