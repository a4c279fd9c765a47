"""Where a key sits in the raw text of a TOML file.

tomllib reports no positions for the values it returns, so error messages find their line by
scanning the text: every table header and every ``key =`` line is recorded with its full key
path (``("worker", 1, "env")`` for an ``env =`` line in the second ``[[worker]]``). A lookup
takes the most specific recorded path that is a prefix of the wanted one, so a key inside an
inline table points at its parent key, a missing key at its table header, and anything else at
line 1. This is a best effort for messages only; it never decides what the file means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]

_KEY_PART = r"""[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'"""
_KEY = rf"(?:{_KEY_PART})(?:\s*\.\s*(?:{_KEY_PART}))*"
_ARRAY_HEADER = re.compile(rf"\s*\[\[\s*({_KEY})\s*\]\]")
_TABLE_HEADER = re.compile(rf"\s*\[\s*({_KEY})\s*\]")
_KEY_LINE = re.compile(rf"\s*({_KEY})\s*=")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MULTILINE_QUOTES = ('"""', "'''")


def format_key(path: KeyPath) -> str:
    """Render a key path the way a user reads it: ``worker[1].env.PATH``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            text += f".{shown}" if text else shown
    return text


@dataclass(frozen=True)
class _Entry:
    path: KeyPath
    line: int


class Locator:
    """Maps key paths of one TOML text to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._entries = tuple(_Scanner().scan(text))

    def line_of(self, path: KeyPath) -> int:
        """The line of the most specific header or key that contains ``path``; else 1."""
        best_line, best_depth = 1, 0
        for entry in self._entries:
            depth = len(entry.path)
            if depth > best_depth and path[:depth] == entry.path:
                best_line, best_depth = entry.line, depth
        return best_line


class _Scanner:
    """One pass over the lines, tracking the current table and array-of-tables indices."""

    def __init__(self) -> None:
        self._table: KeyPath = ()
        self._counts: dict[KeyPath, int] = {}  # array-of-tables path -> occurrences so far
        self._current: dict[tuple[str, ...], int] = {}  # array name -> index being filled

    def scan(self, text: str) -> Iterator[_Entry]:
        inside: str | None = None  # the delimiter of an open multi-line string
        for number, line in enumerate(text.splitlines(), start=1):
            if inside is None:
                entry = self._read_line(line)
                if entry is not None:
                    yield _Entry(entry, number)
            inside = _multiline_state(line, inside)

    def _read_line(self, line: str) -> KeyPath | None:
        if match := _ARRAY_HEADER.match(line):
            self._table = self._open_array(_split_key(match.group(1)))
            return self._table
        if match := _TABLE_HEADER.match(line):
            self._table = self._resolve(_split_key(match.group(1)))
            return self._table
        if match := _KEY_LINE.match(line):
            return (*self._table, *_split_key(match.group(1)))
        return None

    def _open_array(self, parts: tuple[str, ...]) -> KeyPath:
        base = (*self._resolve(parts[:-1]), parts[-1])
        index = self._counts.get(base, 0)
        self._counts[base] = index + 1
        self._current[parts] = index
        return (*base, index)

    def _resolve(self, parts: tuple[str, ...]) -> KeyPath:
        """Insert the current index after every prefix that names an array of tables."""
        resolved: list[str | int] = []
        for depth, part in enumerate(parts, start=1):
            resolved.append(part)
            index = self._current.get(parts[:depth])
            if index is not None:
                resolved.append(index)
        return tuple(resolved)


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in re.findall(_KEY_PART, text))


def _unquote(part: str) -> str:
    if part[0] in "\"'":
        return part[1:-1]
    return part


def _multiline_state(line: str, inside: str | None) -> str | None:
    """Whether a multi-line string is open after ``line`` (and with which delimiter)."""
    if inside is not None:
        return None if line.count(inside) % 2 == 1 else inside
    for quote in _MULTILINE_QUOTES:
        if line.count(quote) % 2 == 1:
            return quote
    return None
