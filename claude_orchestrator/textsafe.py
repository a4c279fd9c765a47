"""Text from tasks, agents and peers made safe to show on a terminal.

Titles, descriptions, results, messages, context values and agent output are written by
anyone who can push a task or run an agent; printed as they are, their control characters
drive the reader's terminal (clear the screen, retitle the window, rewrite lines, answer
back through some emulators). Every human-readable output goes through :func:`escape`.

Control characters are the C0 set (U+0000-U+001F), DEL (U+007F) and the C1 set
(U+0080-U+009F, which UTF-8 terminals also obey: U+009B is a CSI). They are spelled as
Python's ``repr`` spells them — ``\\t``, ``\\n``, ``\\r``, otherwise ``\\xNN`` — because
that form names every code exactly (C1 has no caret notation, and ``^[`` hides which code
it was), is what people paste into ``printf``, ``grep -P`` or Python, and needs no table.
Backslashes themselves are left alone: the aim is a harmless screen, not a reversible
encoding, and agents' output is full of backslashes worth reading as they are.

JSON output (:func:`json_text`) is escaped the JSON way, so it parses to the same value.
Stdlib only: usable from the CLI and from a detached supervisor that never loads rich.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["escape", "json_text"]

#: control characters kept in multi-line text: tab and newline
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: control characters in a one-line cell: tab and newline too
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: what ``json.dumps(ensure_ascii=False)`` leaves raw (it escapes only U+0000-U+001F)
_JSON_RAW = re.compile(r"[\x7f-\x9f]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character spelled out; tab and newline kept unless
    ``one_line`` (a table cell, a prefixed log line: nothing may break the line)."""
    pattern = _LINE_CONTROLS if one_line else _CONTROLS
    return pattern.sub(_spelled, text)


def _spelled(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT.get(char) or f"\\x{ord(char):02x}"


def json_text(obj: Any) -> str:
    """Compact JSON, UTF-8 text kept readable, with no raw control character in it.

    DEL and C1 can only occur inside JSON strings, where ``\\u00NN`` is the same value.
    """
    text = json.dumps(obj, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
