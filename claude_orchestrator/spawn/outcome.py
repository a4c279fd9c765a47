"""What an agent run came to, and bounded excerpts of its output for ZooKeeper.

An :class:`Outcome` is read from what the agent printed (see ``streamjson``),
not from its exit code alone. The full output always stays in the session log;
ZooKeeper only gets :func:`excerpt` of a long result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from claude_orchestrator.spawn.limits import Limit

#: default size of a result excerpt kept in ZooKeeper, in UTF-8 bytes
EXCERPT_LIMIT = 4096


@dataclass(frozen=True)
class Outcome:
    """The result of one agent run, as reported to the task."""

    ok: bool
    #: the agent's final text, in full (the caller bounds it with :func:`excerpt`)
    result: str | None
    #: why the run failed, for people; None when ``ok``
    reason: str | None
    session_id: str | None = None
    cost_usd: float | None = None
    num_turns: int | None = None
    duration_ms: int | None = None
    #: the run ended on the provider's rate or usage limit (spawn/limits.py)
    limit: Limit | None = None

    def limited(self, limit: Limit | None) -> Outcome:
        """This outcome with ``limit``: not ok (the work was not done), the limit the reason."""
        if limit is None:
            return self
        said = f"limit: {limit.reason}"
        return replace(
            self, ok=False, reason=f"{said}; {self.reason}" if self.reason else said, limit=limit
        )


def excerpt(text: str | None, limit: int = EXCERPT_LIMIT) -> str | None:
    """``text`` if its UTF-8 size is within ``limit`` bytes, else its head and tail.

    The two ends are joined by a marker naming how many bytes were left out.
    Characters are never split, and the excerpt's UTF-8 size never exceeds ``limit``.
    """
    if text is None:
        return None
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    budget = limit - len(_marker(len(data)).encode("utf-8"))
    if budget < 0:  # no room even for the marker: the head alone
        return _head(data, max(limit, 0))
    head = _head(data, budget - budget // 2)
    tail = _tail(data, budget // 2)
    omitted = len(data) - len(head.encode("utf-8")) - len(tail.encode("utf-8"))
    return f"{head}{_marker(omitted)}{tail}"


def _marker(omitted: int) -> str:
    # ``omitted`` never exceeds the size the budget was computed with, so the
    # marker is never longer than the one reserved for.
    return f"\n…[{omitted} bytes omitted; full output in the session log]…\n"


def _head(data: bytes, size: int) -> str:
    """The longest whole-character prefix of ``data`` within ``size`` bytes."""
    return data[:size].decode("utf-8", "ignore")


def _tail(data: bytes, size: int) -> str:
    """The longest whole-character suffix of ``data`` within ``size`` bytes."""
    if size <= 0:
        return ""
    return data[-size:].decode("utf-8", "ignore")
