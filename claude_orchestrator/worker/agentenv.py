"""The environment an agent runs with.

Inherited variables minus Claude Code's own nesting markers, then the agent
preset's and the team file's variables, then the identity the agent needs
to call the CLI itself (``CO_TASK_ID``, ``CO_INSTANCE_ID``, ``CO_TEAM``,
``ZK_HOSTS``, ``CO_TEAM_FILE``, ``CO_BIN``). Each worker gets its own
``CLAUDE_CONFIG_DIR`` (concurrent Claude Code processes corrupt a shared
``~/.claude.json``) unless the team file sets one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from claude_orchestrator.worker.settings import WorkerSettings

DROPPED_PREFIXES = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")


def agent_environment(
    base: Mapping[str, str], ws: WorkerSettings, instance_id: str, task_id: str | None
) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(DROPPED_PREFIXES)}
    env.pop("CO_TASK_ID", None)  # only a task run has one: its own
    configured = {**ws.agent.env, **ws.env}
    env.update(configured)
    if "CLAUDE_CONFIG_DIR" not in configured:
        env["CLAUDE_CONFIG_DIR"] = str(private_dir(ws.state_dir / "claude" / ws.name))
    env.update(_identity(ws, instance_id, task_id))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    return env


def _identity(ws: WorkerSettings, instance_id: str, task_id: str | None) -> dict[str, str]:
    ident = {
        "CO_INSTANCE_ID": instance_id,
        "CO_TEAM": ws.team,
        "ZK_HOSTS": ws.zk.hosts,
        "CO_BIN": str(Path(sys.executable).parent / "claude-orchestrator"),
        "CO_WORKER_NAME": ws.name,
    }
    if task_id is not None:
        ident["CO_TASK_ID"] = task_id
    if ws.team_file is not None:
        ident["CO_TEAM_FILE"] = str(ws.team_file)
    return ident


def private_dir(path: Path) -> Path:
    """A directory only its owner can enter (0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path
