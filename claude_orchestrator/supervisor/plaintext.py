"""Plain-text forms of durations, times and money for ``ps`` and the dashboard (no rich)."""

from __future__ import annotations

import time

MISSING = "-"


def duration_text(seconds: float) -> str:
    """A compact duration: "42s", "3m05s", "2h03m", "1d02h" (negative counts as 0)."""
    secs = max(0, int(seconds))
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    if secs < 86400:
        return f"{secs // 3600}h{secs % 3600 // 60:02d}m"
    return f"{secs // 86400}d{secs % 86400 // 3600:02d}h"


def uptime_text(started_at: float | None, now: float) -> str:
    """How long since ``started_at``, or "-" when the worker is not running."""
    if started_at is None:
        return MISSING
    return duration_text(now - started_at)


def cost_text(cost_usd: float) -> str:
    """Dollars with cents ("$0.12"), "-" when nothing was spent."""
    return f"${cost_usd:.2f}" if cost_usd > 0 else MISSING


def clock_text(at: float) -> str:
    """Local wall-clock time of day, as people read it on their own screen."""
    return time.strftime("%H:%M:%S", time.localtime(at))
