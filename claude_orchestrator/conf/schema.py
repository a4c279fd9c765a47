"""Typed, strict reading of parsed TOML tables.

A ``Section`` wraps one table of a parsed file together with its key path, refuses keys it does
not know (suggesting the closest valid one), and converts values to Python types. Every error it
raises is a ConfigError of the form ``<file>:<line>: <dotted key>: <what is wrong>``.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from types import MappingProxyType
from typing import Any

from claude_orchestrator.conf.duration import parse_duration
from claude_orchestrator.conf.locate import KeyPath, Locator, format_key
from claude_orchestrator.conf.names import NAME_RULE, is_valid_name
from claude_orchestrator.errors import ConfigError

# TOML's own names for the types tomllib returns; bool is listed before int on purpose.
_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "float"),
    (str, "string"),
    (list, "array"),
    (dict, "table"),
    (datetime, "datetime"),
    (date, "date"),
    (time, "time"),
)


def toml_type_name(value: object) -> str:
    """The TOML name of the type of a parsed value (``integer``, ``table``, ...)."""
    for kind, name in _TOML_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def describe_unknown(key: str, valid: Sequence[str], kind: str = "key") -> str:
    """'unknown key' plus the closest valid key, or the list of valid keys."""
    import difflib  # only for a team file with a mistake in it

    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        return f"unknown {kind}; did you mean '{close[0]}'?"
    return f"unknown {kind}; valid keys are {', '.join(valid)}"


@dataclass(frozen=True)
class Source:
    """The file being read: its name as shown in messages and a locator over its text."""

    name: str
    locator: Locator

    def error(self, path: KeyPath, what: str) -> ConfigError:
        return ConfigError(f"{self.where(path)}: {what}")

    def where(self, path: KeyPath) -> str:
        """``<file>:<line>: <dotted key>`` (no key for the file as a whole): an error's prefix."""
        line = self.locator.line_of(path)
        if not path:
            return f"{self.name}:{line}"
        return f"{self.name}:{line}: {format_key(path)}"


class Section:
    """One table of a parsed file, read through typed accessors."""

    def __init__(
        self, source: Source, path: KeyPath, data: Mapping[str, Any], keys: Sequence[str]
    ) -> None:
        self.source = source
        self.path = path
        self.data = data
        for key in data:
            if key not in keys:
                kind = "table" if isinstance(data[key], dict) else "key"
                raise self.error(key, describe_unknown(key, keys, kind))

    def error(self, key: str | int, what: str) -> ConfigError:
        return self.source.error((*self.path, key), what)

    def where(self, key: str | int) -> str:
        """Where ``key`` of this table is, as an error names it (``<file>:<line>: <key>``)."""
        return self.source.where((*self.path, key))

    def _get(self, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
        """The value under ``key`` (None when absent), refused unless it is a ``kind``."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.error(key, f"expected {expected}, got boolean")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {expected}, got {toml_type_name(value)}")
        return value

    def string(self, key: str, default: str) -> str:
        value = self.optional_string(key)
        return default if value is None else value

    def optional_string(self, key: str) -> str | None:
        value: str | None = self._get(key, str, "a string")
        if value is not None and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def name(self, key: str, default: str | None = None) -> str:
        value = self.optional_string(key)
        if value is None:
            if default is None:
                raise self.error(key, "required key is missing")
            return default
        if not is_valid_name(value):
            raise self.error(key, f"{value!r} is not a valid name: {NAME_RULE}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value: bool | None = self._get(key, bool, "true or false")
        return default if value is None else value

    def integer(self, key: str, default: int, minimum: int, maximum: int | None = None) -> int:
        value: int | None = self._get(key, int, "an integer")
        if value is None:
            return default
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")
        return value

    def positive_number(self, key: str) -> float | None:
        """A number greater than zero (an integer or a float; not inf or nan), None when absent."""
        value: int | float | None = self._get(key, (int, float), "a number")
        if value is None:
            return None
        if not math.isfinite(value) or value <= 0:
            raise self.error(key, f"must be a number greater than zero, got {value}")
        return float(value)

    def duration(self, key: str) -> float | None:
        """A duration, None when absent (no limit, for a timeout): zero is refused."""
        seconds = self._seconds(key)
        if seconds == 0:
            raise self.error(key, "must be longer than zero (leave the key out for no limit)")
        return seconds

    def duration_or(self, key: str, default: float) -> float:
        """A duration, ``default`` when absent: zero is refused."""
        seconds = self._seconds(key)
        if seconds is None:
            return default
        if seconds == 0:
            raise self.error(key, "must be longer than zero")
        return seconds

    def _seconds(self, key: str) -> float | None:
        value: str | int | float | None = self._get(key, (str, int, float), "a duration")
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def strings(self, key: str) -> tuple[str, ...]:
        values: list[Any] | None = self._get(key, list, "an array of strings")
        for index, item in enumerate(values or []):
            if not isinstance(item, str):
                shown = toml_type_name(item)
                raise self.error(key, f"item {index}: expected a string, got {shown}")
        return tuple(values or ())

    def command(self, key: str) -> tuple[str, ...] | None:
        """A command line given as one string (split like a shell) or as an array of strings."""
        if isinstance(self.data.get(key), list):
            words = self.strings(key)
        else:
            text = self.optional_string(key)
            if text is None:
                return None
            words = self._split(key, text)
        if not words or not words[0]:
            raise self.error(key, "must name a program")
        return words

    def _split(self, key: str, text: str) -> tuple[str, ...]:
        try:
            return tuple(shlex.split(text))
        except ValueError as exc:
            raise self.error(key, f"cannot split into words: {exc}") from None

    def str_map(self, key: str) -> Mapping[str, str]:
        """A table of string values, such as ``env``; returned read-only."""
        table: dict[str, Any] | None = self._get(key, dict, "a table of strings")
        for name, value in (table or {}).items():
            if not name or "=" in name:
                raise self.source.error((*self.path, key, name), "not a valid variable name")
            if not isinstance(value, str):
                shown = toml_type_name(value)
                raise self.source.error((*self.path, key, name), f"expected a string, got {shown}")
        return MappingProxyType(dict(table or {}))

    def table(self, key: str, keys: Sequence[str]) -> Section:
        """The sub-table under ``key`` (empty when absent), checked against ``keys``."""
        value: dict[str, Any] | None = self._get(key, dict, "a table")
        return Section(self.source, (*self.path, key), value or {}, keys)

    def tables(self, key: str, keys: Sequence[str]) -> dict[str, Section]:
        """A table of tables, such as ``[agents.NAME]``: one Section per name."""
        value: dict[str, Any] | None = self._get(key, dict, "a table")
        sections: dict[str, Section] = {}
        for name, item in (value or {}).items():
            path = (*self.path, key, name)
            if not isinstance(item, dict):
                raise self.source.error(path, f"expected a table, got {toml_type_name(item)}")
            sections[name] = Section(self.source, path, item, keys)
        return sections

    def array_of_tables(self, key: str, keys: Sequence[str]) -> list[Section]:
        """An array of tables, such as ``[[worker]]``: one Section per entry, in order."""
        value: list[Any] | None = self._get(key, list, f"an array of tables ([[{key}]])")
        sections: list[Section] = []
        for index, item in enumerate(value or []):
            path = (*self.path, key, index)
            if not isinstance(item, dict):
                raise self.source.error(path, f"expected a table, got {toml_type_name(item)}")
            sections.append(Section(self.source, path, item, keys))
        return sections


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
