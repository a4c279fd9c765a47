"""The agent skill file written by ``setup``: how an agent drives the team."""

from __future__ import annotations

from pathlib import Path

SKILL = """\
---
name: claude-orchestrator
description: Coordinate with your team through the claude-orchestrator CLI
  (tasks, messages, shared context).
---
# Working in a claude-orchestrator team

Every command prints JSON. Your identity and task come from the environment
(`CO_INSTANCE_ID`, `CO_TASK_ID`, `CO_TEAM`, `ZK_HOSTS`).

- Report progress: `claude-orchestrator task-block --reason "…"` when you cannot go on,
  `claude-orchestrator complete-task --result "…"` when done, `task-fail --reason "…"` on failure.
- New work for the team: `claude-orchestrator push-task --title "…" --description "…"`
  (`--assignee NAME` or `--assignee role:ROLE`, `--depends-on TASK_ID`).
- Talk: `send-message --to-name NAME -m "…"`, `request-help -m "…"`, `poll-messages`.
- Shared notes: `set-context --key K --value V`, `get-context --key K`.
"""


def write_skill(root: Path) -> Path:
    path = root / ".claude" / "skills" / "claude-orchestrator" / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SKILL)
    return path
