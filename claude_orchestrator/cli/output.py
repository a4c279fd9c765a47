"""Printing results: compact JSON for agents and scripts, plain text for people."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(obj: Any, as_json: bool = True) -> None:
    """Write one result to stdout in a single write (never half a document)."""
    text = json.dumps(obj, ensure_ascii=False) if as_json else human(obj)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def human(obj: Any) -> str:
    if isinstance(obj, list):
        return "\n".join(_line(item) for item in obj) if obj else "(none)"
    if isinstance(obj, dict):
        width = max((len(k) for k in obj), default=0)
        return "\n".join(f"{k:<{width}}  {_scalar(v)}" for k, v in obj.items())
    return str(obj)


def _line(item: Any) -> str:
    if isinstance(item, dict):
        keys = ("id", "status", "title", "name", "key", "from", "body")
        return "  ".join(_scalar(item[k]) for k in keys if k in item)
    return _scalar(item)


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
