"""The environment an agent runs with: an allow-list, never the team credential.

From the worker's own environment only what a session needs passes: ``ALLOWED`` (PATH, HOME,
locale, terminal, ...), ``LC_*``, and the variables of the agent's vendor (``VENDOR_PREFIXES``:
``ANTHROPIC_*``/``CLAUDE_*`` for claude, ``OPENAI_*`` for codex, ...) minus Claude Code's own
nesting markers. Then the agent preset's and the team file's variables, then the identity the
agent needs to call the CLI itself (``CO_TASK_ID``, ``CO_INSTANCE_ID``, ``CO_TEAM``,
``ZK_HOSTS``, ``CO_TEAM_FILE``, ``CO_BIN``) and, on an authenticated team, the agents' scoped
credential (``CO_AGENT_AUTH`` + ``CO_TEAM_DIGEST``, see zk/acls.py). The team credential
(``CO_ZK_AUTH`` or the variable the team file's ``auth`` names) is removed last, whoever set it.
Each worker gets its own ``CLAUDE_CONFIG_DIR`` (concurrent Claude Code processes corrupt a
shared ``~/.claude.json``) unless the team file sets one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from claude_orchestrator.conf.credentials import agent_credential, digest_id
from claude_orchestrator.worker.settings import WorkerSettings

DROPPED_PREFIXES = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")
ALLOWED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TMPDIR", "SHELL", "TZ"}
)
ALLOWED_PREFIXES = ("LC_",)
#: what each preset's CLI reads from the environment (keys, endpoints, its own settings)
VENDOR_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "claude": ("ANTHROPIC_", "CLAUDE_"),
    "codex": ("OPENAI_", "CODEX_"),
    "gemini": ("GEMINI_", "GOOGLE_"),
    "aider": ("AIDER_", "OPENAI_", "ANTHROPIC_", "GEMINI_"),
}
TEAM_CREDENTIAL_VARS = ("CO_ZK_AUTH",)


def agent_environment(
    base: Mapping[str, str], ws: WorkerSettings, instance_id: str, task_id: str | None
) -> dict[str, str]:
    env = _allowed(base, VENDOR_PREFIXES.get(ws.agent.preset.name, ()))
    configured = {**ws.agent.env, **ws.env}
    env.update(configured)
    if "CLAUDE_CONFIG_DIR" not in configured:
        env["CLAUDE_CONFIG_DIR"] = str(private_dir(ws.state_dir / "claude" / ws.name))
    env.update(_identity(ws, instance_id, task_id))
    env.update(_scoped_credential(ws))
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    for name in (*TEAM_CREDENTIAL_VARS, *ws.credential_vars):
        env.pop(name, None)
    return env


def _allowed(base: Mapping[str, str], vendor: tuple[str, ...]) -> dict[str, str]:
    def passes(name: str) -> bool:
        if name.startswith(DROPPED_PREFIXES):
            return False
        return name in ALLOWED or name.startswith((*ALLOWED_PREFIXES, *vendor))

    return {name: value for name, value in base.items() if passes(name)}


def _scoped_credential(ws: WorkerSettings) -> dict[str, str]:
    """The agents' credential and the team's digest id; the team credential never."""
    auth = ws.zk.auth
    if not auth:
        return {}
    if ws.zk.team_id:  # this worker itself runs on a scoped credential: pass it on
        return {"CO_AGENT_AUTH": auth, "CO_TEAM_DIGEST": ws.zk.team_id}
    return {"CO_AGENT_AUTH": agent_credential(auth), "CO_TEAM_DIGEST": digest_id(auth)}


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
