"""Printing results: compact JSON for agents and scripts, plain text for people.

Both forms carry no raw control character (claude_orchestrator.textsafe): task text
reaches a terminal either way.
"""

from __future__ import annotations

import sys
from typing import Any

from claude_orchestrator.textsafe import escape, json_text


def emit(obj: Any, as_json: bool = True) -> None:
    """Write one result to stdout in a single write (never half a document)."""
    text = json_text(obj) if as_json else human(obj)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def human(obj: Any) -> str:
    if isinstance(obj, list):
        return "\n".join(_line(item) for item in obj) if obj else "(none)"
    if isinstance(obj, dict):
        return _fields(obj)
    return escape(str(obj))


def _fields(obj: dict[Any, Any]) -> str:
    """``key  value`` lines; a multi-line value goes on indented under its first line."""
    keys = {k: escape(str(k), one_line=True) for k in obj}
    width = max((len(k) for k in keys.values()), default=0)
    return "\n".join(_field(keys[k], width, v) for k, v in obj.items())


def _field(key: str, width: int, value: Any) -> str:
    lines = escape(_plain(value)).split("\n")
    return f"{key:<{width}}  " + ("\n" + " " * (width + 2)).join(lines)


def _line(item: Any) -> str:
    if isinstance(item, dict):
        keys = ("id", "status", "title", "name", "key", "from", "body")
        return "  ".join(_scalar(item[k]) for k in keys if k in item)
    return _scalar(item)


def _scalar(value: Any) -> str:
    """One cell of a one-line row: nothing in it may break the line."""
    return escape(_plain(value), one_line=True)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value)
