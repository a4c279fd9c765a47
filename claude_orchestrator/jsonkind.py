"""How JSON names a value's type, for messages about input that is not what was expected
(the planner's graph, a verdict block). Pure; imported by any layer."""

from __future__ import annotations


def json_kind(value: object) -> str:
    """``null``, ``a boolean``, ``a number``, ``a string``, ``an array`` or ``an object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
