"""Receiving signals: each handler only records, posting a ``Signal`` to the loop.

TERM and INT stop gracefully, a second INT stops now, HUP reloads — the loop acts on them
through the same code path as ``down`` and ``reload`` (arbiter ``_on_signal``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from claude_orchestrator.supervisor.events import Signal, SignalReceived


def install_signal_handlers(post: Callable[[SignalReceived], None]) -> None:
    """Route SIGINT, SIGTERM and SIGHUP of this process to ``post`` (main thread only)."""
    interrupts = [0]

    def on_int(_s: int, _f: Any) -> None:
        interrupts[0] += 1
        post(SignalReceived(Signal.KILL if interrupts[0] > 1 else Signal.INT))

    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, lambda _s, _f: post(SignalReceived(Signal.TERM)))
    signal.signal(signal.SIGHUP, lambda _s, _f: post(SignalReceived(Signal.HUP)))
