"""Durations: the one parser for every timeout in team.toml, flags and the environment.

A duration is a number of seconds (``10``, ``1.5``) or a string of number+unit parts
(``500ms``, ``90s``, ``30m``, ``2h``, ``1h30m``). A bare number string means seconds.
"""

from __future__ import annotations

import math
import re

ACCEPTED_FORMS = "a duration like 90s, 30m, 2h, 1h30m or 500ms (a bare number means seconds)"

_NUMBER = r"\d+(?:\.\d+)?"
_BARE = re.compile(_NUMBER)
# "ms" is listed before "m" so that "500ms" is not read as 500 minutes followed by junk.
_PART = re.compile(rf"({_NUMBER})(ms|h|m|s)")
_PARTS = re.compile(rf"(?:{_NUMBER}(?:ms|h|m|s))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | int | float) -> float:
    """Return ``value`` in seconds; raise ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"expected {ACCEPTED_FORMS}, got a boolean")
    if isinstance(value, str):
        return _parse_text(value)
    return _check_number(float(value), repr(value))


def _parse_text(value: str) -> float:
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"duration {value!r} must not be negative")
    if _BARE.fullmatch(text):
        return _check_number(float(text), repr(value))
    if not _PARTS.fullmatch(text):
        raise ValueError(f"invalid duration {value!r}: expected {ACCEPTED_FORMS}")
    total = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    return _check_number(total, repr(value))


def _check_number(seconds: float, shown: str) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"invalid duration {shown}: expected {ACCEPTED_FORMS}")
    if seconds < 0:
        raise ValueError(f"duration {shown} must not be negative")
    return seconds
