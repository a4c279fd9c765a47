"""The argument schema of each control command, checked on both halves.

A request body is ``{"command": NAME, "args": {...}, "at": SECONDS}``. Each
command names the arguments it takes; each argument has one typed parser.
The client half checks before it writes (a bad flag is a usage error, nothing
is sent); the executor half checks again before it acts, because anyone with
write access to ``control/`` can write a request node by hand. Anything
unexpected — a missing or unknown key, a wrong type, a name that is not a
worker name, a timeout that is not a positive number of seconds within
bounds — is a ``BadRequestError``, never a guess.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_orchestrator.conf.names import NAME_RULE, is_valid_name
from claude_orchestrator.errors import UsageError

MAX_TIMEOUT_S = 3600.0
MAX_WORKERS = 1000
BODY_KEYS = ("command", "args", "at")


class BadRequestError(UsageError):
    """A control request that does not match its command's schema."""


@dataclass(frozen=True)
class Request:
    """A checked control request: only the arguments its command takes are set."""

    command: str
    workers: tuple[str, ...] = ()
    timeout: float | None = None


def parse_body(data: bytes) -> dict[str, Any]:
    """A request node's bytes as a JSON object with only the body's keys, or BadRequestError."""
    try:
        body = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError("not a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequestError("not a JSON object")
    refuse_unknown(body, BODY_KEYS, "key")
    return body


def args_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise BadRequestError(f"args: expected an object, got {_kind(args)}")
    return args


def parse_args(command: str, allowed: tuple[str, ...], args: Mapping[str, Any]) -> Request:
    """The checked Request for ``command`` taking ``allowed`` arguments, or BadRequestError."""
    refuse_unknown(args, allowed, f"argument of {command!r}")
    fields = {key: _PARSERS[key](args[key]) for key in allowed if args.get(key) is not None}
    return Request(command, **fields)


def args_body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The ``args`` object the client writes for a checked request."""
    args: dict[str, Any] = {}
    if "workers" in allowed:
        args["workers"] = list(request.workers)
    if request.timeout is not None:
        args["timeout"] = request.timeout
    return args


def refuse_unknown(data: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        valid = ", ".join(allowed) or "none"
        raise BadRequestError(f"unknown {what} {', '.join(unknown)} (valid: {valid})")


def _workers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadRequestError(f"workers: expected a list of worker names, got {_kind(value)}")
    if len(value) > MAX_WORKERS:
        raise BadRequestError(f"workers: at most {MAX_WORKERS} names, got {len(value)}")
    for item in value:
        if not isinstance(item, str) or not is_valid_name(item):
            raise BadRequestError(f"workers: {item!r} is not a worker name: {NAME_RULE}")
    return tuple(dict.fromkeys(value))


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"timeout: expected a number of seconds, got {_kind(value)}")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_S:
        raise BadRequestError(
            f"timeout: must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {value!r}"
        )
    return seconds


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


_PARSERS: Mapping[str, Callable[[Any], Any]] = {"workers": _workers, "timeout": _timeout}
