"""How a process ended: decoded once from its returncode, described in one place.

``subprocess`` reports a death by signal N as returncode ``-N``; ``ExitStatus`` turns that
into an exit code *or* a signal, and ``describe`` is the one phrasing of it for people:
``exited 3`` / ``killed by SIGKILL`` (the supervisor's logs, ``ps``), or tersely ``exit 3``
(an agent's session reasons). The spawn layer's ``ExitInfo`` and the restart policy's
``Exit`` extend it with what they add (duration and timeouts; uptime and "we asked").
"""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int | None  # None when killed by a signal (or not known)
    signal: int | None  # the signal that killed it, if any

    @classmethod
    def from_returncode(cls, code: int) -> ExitStatus:
        """Decode ``Popen.returncode``: a negative value is the signal that killed it."""
        return cls(exit_code=code if code >= 0 else None, signal=-code if code < 0 else None)

    @property
    def returncode(self) -> int | None:
        """Back to ``Popen``'s convention (None when not known)."""
        return -self.signal if self.signal is not None else self.exit_code

    @property
    def clean(self) -> bool:
        """Exit code 0, no signal."""
        return self.exit_code == 0 and self.signal is None

    def describe(self, terse: bool = False) -> str:
        """``exited 3``, ``killed by SIGKILL``; ``terse``: ``exit 3`` (session reasons)."""
        if self.signal is not None:
            return f"killed by {signal_name(self.signal)}"
        if self.exit_code is None:
            return "unknown exit status" if terse else "exited (status unknown)"
        return f"exit {self.exit_code}" if terse else f"exited {self.exit_code}"


def signal_name(signum: int) -> str:
    """``SIGKILL``, or ``signal 99`` for a number with no name."""
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
