"""Restart policy as data, and the one place that decides what follows a process exit.

``RestartTracker.on_exit`` turns (policy, how the process ended, now) into a ``Decision``:
restart (at once or after a backoff delay), stop, or give up (fatal). Pure: no I/O, no
threads, no sleeping; the clock is passed in and the jitter source can be replaced, so the
whole policy is testable with plain floats.

Rules, after supervisord's ``startsecs`` / ``startretries``:

* an exit we asked for (down / restart / reload) is never a failure;
* a start counts only once the process stayed up ``startsecs``: a worker that crashes
  after a good start is replaced at once, one that dies while starting backs off
  exponentially (with jitter, capped);
* an exit code of ``fatal_exit_codes`` (2: a configuration error) is FATAL at once;
* ``max_failures`` failures within ``failure_window`` seconds make it FATAL, until an
  explicit up / restart calls ``reset``;
* a run of ``stable_after`` seconds forgets earlier failures.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from claude_orchestrator.conf.team import RestartMode
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.supervisor.states import ProcState


class Action(StrEnum):
    """What a ``Decision`` says follows an exit."""

    RESTART = "restart"  # at once, or after ``Decision.delay``
    STOP = "stop"
    FATAL = "fatal"  # give up until an explicit up / restart


@dataclass(frozen=True)
class RestartPolicy:
    mode: RestartMode = RestartMode.ON_FAILURE
    startsecs: float = 1.0  # a start counts only if the process stayed up this long
    backoff_initial: float = 0.5  # first delay after a failed start
    backoff_factor: float = 2.0
    backoff_max: float = 60.0  # cap
    jitter: float = 0.1  # +/- fraction applied to each delay
    stable_after: float = 60.0  # uptime after which the failure count resets
    max_failures: int = 5  # this many failures within failure_window -> FATAL
    failure_window: float = 120.0
    # exit codes that say "restarting cannot help" (a worker exits 2 for a configuration
    # error, its agent not startable included): FATAL at once, with the worker's reason
    fatal_exit_codes: frozenset[int] = frozenset({2})

    def __post_init__(self) -> None:
        try:  # the team file's string is accepted too, and kept as its RestartMode
            object.__setattr__(self, "mode", RestartMode(self.mode))
        except ValueError:
            modes = ", ".join(RestartMode)
            raise ConfigError(f"restart must be one of {modes}, not {self.mode!r}") from None
        for name in ("startsecs", "backoff_initial", "backoff_max", "stable_after"):
            _require(name, getattr(self, name) >= 0, "must be >= 0")
        _require("failure_window", self.failure_window >= 0, "must be >= 0")
        _require("backoff_factor", self.backoff_factor >= 1, "must be >= 1")
        _require("jitter", 0 <= self.jitter <= 1, "must be between 0 and 1")
        _require("max_failures", self.max_failures >= 1, "must be >= 1")


def _require(name: str, ok: bool, what: str) -> None:
    if not ok:
        raise ConfigError(f"restart policy: {name} {what}")


@dataclass(frozen=True)
class Exit(ExitStatus):
    """How a process ended (its ``ExitStatus``), how long it ran, and whether we stopped it."""

    uptime: float  # seconds it ran
    requested: bool  # we stopped it (down/restart/reload): never counts as a failure


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0  # for RESTART: seconds from now (0 = at once)
    reason: str = ""  # for people, e.g. "killed by SIGKILL after 3.0s; restarting at once"

    @property
    def next_state(self) -> ProcState:
        """The state an EXITED process moves to under this decision (the pool applies it)."""
        if self.action is Action.RESTART:
            return ProcState.BACKOFF if self.delay > 0 else ProcState.STARTING
        return ProcState.FATAL if self.action is Action.FATAL else ProcState.STOPPED


def backoff_delay(policy: RestartPolicy, attempt: int, rand: float) -> float:
    """Delay before retry ``attempt`` (1-based) of a failed start; ``rand`` is in [0, 1)."""
    try:
        base = min(
            policy.backoff_max, policy.backoff_initial * policy.backoff_factor ** (attempt - 1)
        )
    except OverflowError:  # a huge attempt count: the cap applies long before
        base = policy.backoff_max
    delay = base * (1 + policy.jitter * (2 * rand - 1))
    return max(0.0, min(delay, policy.backoff_max * (1 + policy.jitter)))


class RestartTracker:
    """Failure history of one worker; owned (and only mutated) by the supervisor loop."""

    def __init__(self, policy: RestartPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self._rand = rand
        self._failed_at: deque[float] = deque()  # times of failures still in the window
        self._start_failures = 0  # consecutive starts that died before startsecs
        self._restarts = 0

    @property
    def failures(self) -> int:
        """Failures within the window, as of the last exit."""
        return len(self._failed_at)

    @property
    def restarts(self) -> int:
        """Restarts decided so far (kept across ``reset``: it is what ``ps`` shows)."""
        return self._restarts

    def reset(self) -> None:
        """An explicit up / restart: forget failures, so a FATAL worker may start again."""
        self._failed_at.clear()
        self._start_failures = 0

    def on_exit(self, ex: Exit, now: float) -> Decision:
        """Decide what follows ``ex``, which was reaped at ``now``."""
        what = ex.describe()
        if ex.requested:
            return Decision(Action.STOP, reason=f"{what} (stopped on request)")
        if not _mode_restarts(self.policy.mode, ex):
            return Decision(Action.STOP, reason=f"{what} (restart = {self.policy.mode})")
        if ex.exit_code in self.policy.fatal_exit_codes:
            return Decision(Action.FATAL, reason=f"{what}: a configuration error; fix it, then up")
        what = f"{what} after {ex.uptime:.1f}s"
        self._restarts += 1
        if ex.uptime >= self.policy.startsecs:
            # The start had counted (as supervisord's startsecs): a crash of a running worker
            # is replaced at once, however often; only failed starts lead to FATAL.
            self._start_failures = 0
            if ex.uptime >= self.policy.stable_after:
                self._failed_at.clear()
            return Decision(Action.RESTART, 0.0, f"{what}; restarting at once")
        self._record_failure(ex.uptime, now)
        if self.failures >= self.policy.max_failures:
            self._restarts -= 1
            window = f"{self.policy.failure_window:g}s"
            return Decision(
                Action.FATAL, reason=f"{self.failures} failures in {window} (last: {what})"
            )
        return self._back_off(what)

    def _record_failure(self, uptime: float, now: float) -> None:
        if uptime >= self.policy.stable_after:
            self._failed_at.clear()
        self._failed_at.append(now)
        while now - self._failed_at[0] > self.policy.failure_window:
            self._failed_at.popleft()
        # A start that lasted startsecs ends a run of failed starts; otherwise extend it.
        self._start_failures = 0 if uptime >= self.policy.startsecs else self._start_failures + 1

    def _back_off(self, what: str) -> Decision:
        n = self._start_failures
        delay = backoff_delay(self.policy, n, self._rand())
        reason = f"{what} (start failed, {_ordinal(n)} time); retry in {delay:.1f}s"
        return Decision(Action.RESTART, delay, reason)


def _mode_restarts(mode: RestartMode, ex: Exit) -> bool:
    """Whether ``mode`` restarts after an exit we did not ask for."""
    if mode is RestartMode.NEVER:
        return False
    return mode is RestartMode.ALWAYS or not ex.clean  # ON_FAILURE: not after exit 0


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
