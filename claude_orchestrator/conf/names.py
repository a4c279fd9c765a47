"""The naming rule for teams, workers, roles and instance ids.

These names become ZooKeeper node names, so they are kept to a portable alphabet: no ``/``,
never ``.`` or ``..``, and short enough to leave room in a path.
"""

from __future__ import annotations

import re

from claude_orchestrator.errors import UsageError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = (
    "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit "
    "(names become ZooKeeper node names)"
)


def is_valid_name(value: str) -> bool:
    """True when ``value`` may be used as a team, worker, role or instance name."""
    return NAME_PATTERN.fullmatch(value) is not None


def require_name(label: str, value: str) -> str:
    """``value`` if it is a valid name, else a UsageError naming ``label`` and the rule."""
    if not is_valid_name(value):
        raise UsageError(f"{label} {shown(value)}: {NAME_RULE}")
    return value


def shown(value: str, limit: int = 64) -> str:
    """``value`` quoted for a message: control characters escaped, cut to ``limit``."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"
