"""The small typed events posted to the worker loop's one queue.

Watch callbacks, the connection listener, signal handlers and the agent's
exit callback (spawn's ``Child``) only post these; the loop is the one writer
of worker state.
"""

from __future__ import annotations

from dataclasses import dataclass

from claude_orchestrator.spawn.process import ExitInfo


@dataclass(frozen=True)
class Wake:
    """Something may be claimable or readable: re-read (level-triggered)."""

    reason: str
    path: str | None = None  # the folder whose watch fired, when known


@dataclass(frozen=True)
class Stop:
    """Stop claiming; ``now`` stops a running agent at once instead of after the grace."""

    now: bool = False


@dataclass(frozen=True)
class AgentExited:
    info: ExitInfo


@dataclass(frozen=True)
class Connection:
    state: str  # kazoo's KazooState value: CONNECTED, SUSPENDED, LOST


Event = Wake | Stop | AgentExited | Connection
