"""Agents that execute task text, and the refusal to run them on an open ZooKeeper.

Whoever can write a task runs what such an agent executes, as the operator: the ``shell``
preset runs the task as a script, and an agent told to skip its permission prompts runs any
command the task talks it into. On a ZooKeeper without auth anyone who can reach the port
writes tasks, so such a worker is refused there unless the team says ``insecure = true``.
"""

from __future__ import annotations

from collections.abc import Iterable

from claude_orchestrator.conf.agents import AgentSpec
from claude_orchestrator.errors import ConfigError

#: flags that let an agent act without asking (claude, codex, gemini, aider)
SKIP_FLAGS = frozenset(
    {
        "--dangerously-skip-permissions",
        "--dangerously-bypass-approvals-and-sandbox",
        "--full-auto",
        "--yolo",
        "--yes-always",
    }
)
#: option=value pairs with the same effect
SKIP_OPTIONS = frozenset(
    {
        ("--permission-mode", "bypassPermissions"),
        ("--approval-mode", "yolo"),
        ("--sandbox", "danger-full-access"),
    }
)


def task_text_exposure(spec: AgentSpec) -> str | None:
    """Why ``spec`` executes task text (None when it does not)."""
    if spec.preset.name == "shell":
        return "the shell preset runs each task as a script"
    argv = [*spec.command, *spec.preset.base_args, *spec.args]
    for index, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg in SKIP_FLAGS or (name, value if eq else following) in SKIP_OPTIONS:
            return (
                f"its arguments include {arg if eq or arg in SKIP_FLAGS else arg + ' ' + following}"
            )
    return None


def refuse_open_exposure(
    agents: Iterable[tuple[str, AgentSpec]], authenticated: bool, insecure: bool
) -> None:
    """ConfigError (exit 2) if a worker would run task text against an open ZooKeeper.

    ``agents`` are (worker name, agent) pairs."""
    if authenticated or insecure:
        return
    for worker, spec in agents:
        why = task_text_exposure(spec)
        if why is not None:
            raise ConfigError(
                f"worker {worker!r} uses agent {spec.name!r}, which executes task text ({why}), "
                "and ZooKeeper is not authenticated: anyone who can reach it could run commands "
                'as you. Set auth = "env:VAR" in [team] (the embedded server\'s team is '
                "authenticated unless insecure), or say insecure = true in [team] to accept this"
            )
