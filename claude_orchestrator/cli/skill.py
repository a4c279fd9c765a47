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
  A task you blocked is still yours: once you have your answer, `task-unblock` takes it back
  in progress, or `complete-task` finishes it.
- New work for the team: `claude-orchestrator push-task --title "…" --description "…"`
  (`--assignee NAME` or `--assignee role:ROLE`, `--depends-on TASK_ID[,TASK_ID…]`).
- Talk: `send-message --to-name NAME --content "…"`,
  `request-help --question "…" --context "…"`, `poll-messages`, `wait-for-message`.
- Shared notes: `set-context --key K --value V`, `get-context --key K`,
  `watch-context --key K` (waits for the next change; `watch-tasks` likewise).
"""


def write_skill(root: Path) -> Path:
    path = root / ".claude" / "skills" / "claude-orchestrator" / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SKILL)
    return path
