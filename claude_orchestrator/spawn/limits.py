"""A run that ended on the provider's rate or usage limit (issue 13 §1; docs/governor.md).

Claude Code reports a limit in its stream — ``system``/``api_retry`` events with the HTTP
status (429 rate limited, 529 overloaded) before it gives up, or a ``result`` whose text
says ``usage limit reached`` / ``resets at 3pm`` (sometimes with exit code 0). Other agents
(codex, gemini, aider, any text agent) print it: ``429``, ``rate limit``, ``quota
exceeded``, ``RESOURCE_EXHAUSTED``, ``Too Many Requests``. ``detect`` reads that text and
says whether the run hit a limit, and until when, when the agent said so: an epoch after
``|`` (``Claude AI usage limit reached|1764612000``), an ISO time, ``resets at 3pm`` /
``resets 15:30`` (local time, today or else tomorrow), or ``try again in 20 minutes``.

A run that succeeded is only taken for a limit when its whole answer is a short limit
notice: a task about rate limiting must not pause the team.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

LIMIT_STATUSES = {429: "rate limited (429)", 529: "overloaded (529)"}
#: how a failed run's text says it hit a limit
LIMIT_WORDS = re.compile(
    r"usage limit|rate.?limit|too many requests|quota (?:exceeded|exhausted)|"
    r"resource_exhausted|overloaded|\b429\b|\b529\b|limit reached|hit your limit",
    re.IGNORECASE,
)
#: a successful run whose whole answer is one of these is a limit notice, not an answer
NOTICE = re.compile(
    r"^\W*(?:claude ai )?(?:usage limit reached|you(?:'ve| have) (?:hit|reached) your "
    r"(?:usage )?limit|\d+-hour limit reached|rate limit(?:ed| exceeded| reached))",
    re.IGNORECASE,
)
NOTICE_MAX_CHARS = 400
_EPOCH = re.compile(r"\|\s*(\d{10})\b")
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_CLOCK = re.compile(r"resets?(?:\s+at)?\s+(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?", re.IGNORECASE)
_IN = re.compile(
    r"(?:try again|retry|resets?|available again)\s+(?:in|after)\s+(\d+)\s*"
    r"(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b",
    re.IGNORECASE,
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


class Limit(NamedTuple):
    """Why the run stopped, and until when the agent said the limit holds (None: it
    did not say; the governor backs off)."""

    reason: str
    until: float | None = None


def detect(
    text: str, ok: bool, statuses: tuple[int, ...] = (), now: float | None = None
) -> Limit | None:
    """The limit a run ended on: ``text`` is what it printed last (its result, its error,
    the tail of its output), ``statuses`` the HTTP statuses of its API retries."""
    text = text.strip()
    if ok and not (len(text) <= NOTICE_MAX_CHARS and NOTICE.search(text)):
        return None
    hit = [LIMIT_STATUSES[s] for s in statuses if s in LIMIT_STATUSES]
    match = LIMIT_WORDS.search(text)
    if not hit and match is None:
        return None
    reason = hit[-1] if hit else _sentence(text, match.start() if match else 0)
    return Limit(reason, reset_time(text, now))


def _sentence(text: str, at: int) -> str:
    """The line of ``text`` holding position ``at``, cut to 160 characters."""
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    line = text[start : end if end >= 0 else len(text)].strip()
    return line[:160]


def reset_time(text: str, now: float | None = None) -> float | None:
    """When the limit resets, from what the agent printed; None when it does not say."""
    base = datetime.now() if now is None else datetime.fromtimestamp(now)
    if m := _EPOCH.search(text):
        return float(m.group(1))
    if m := _ISO.search(text):
        try:
            return datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    if m := _IN.search(text):
        return base.timestamp() + int(m.group(1)) * _UNIT_S[m.group(2)[0].lower()]
    if m := _CLOCK.search(text):
        return _next_clock(base, int(m.group(1)), int(m.group(2) or 0), m.group(3))
    return None


def _next_clock(base: datetime, hour: int, minute: int, half: str | None) -> float | None:
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half.lower().startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None
    at = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= base:
        at += timedelta(days=1)
    return at.timestamp()
