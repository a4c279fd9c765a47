"""Process states and the restart policy: pure, with a fake clock (plain floats) and fixed rand."""

from __future__ import annotations

import itertools
import signal

import pytest

from claude_orchestrator.errors import ConfigError, OrchestratorError
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.supervisor.policy import (
    Action,
    Decision,
    Exit,
    RestartPolicy,
    RestartTracker,
    backoff_delay,
)
from claude_orchestrator.supervisor.states import (
    TRANSITIONS,
    IllegalStateChange,
    ProcState,
    check_transition,
)

S = ProcState

# Restated here on purpose, independently of the table under test.
LEGAL = {
    (S.STOPPED, S.STARTING),
    (S.STARTING, S.RUNNING),
    (S.STARTING, S.BACKOFF),
    (S.STARTING, S.STOPPING),
    (S.STARTING, S.EXITED),
    (S.RUNNING, S.EXITED),
    (S.RUNNING, S.STOPPING),
    (S.EXITED, S.STARTING),
    (S.EXITED, S.BACKOFF),
    (S.EXITED, S.STOPPED),
    (S.EXITED, S.FATAL),
    (S.BACKOFF, S.STARTING),
    (S.BACKOFF, S.FATAL),
    (S.BACKOFF, S.STOPPED),
    (S.STOPPING, S.STOPPED),
    (S.FATAL, S.STARTING),
    (S.FATAL, S.STOPPED),
}
ALL_PAIRS = list(itertools.product(ProcState, repeat=2))

MID = 0.5  # rand() == 0.5 means no jitter
SIGKILL = int(signal.SIGKILL)


def crash(uptime: float, code: int | None = 1, sig: int | None = None) -> Exit:
    return Exit(exit_code=code, signal=sig, uptime=uptime, requested=False)


def clean(uptime: float) -> Exit:
    return Exit(exit_code=0, signal=None, uptime=uptime, requested=False)


def tracker(rand: float = MID, **policy: float | int | str) -> RestartTracker:
    return RestartTracker(RestartPolicy(**policy), rand=lambda: rand)  # type: ignore[arg-type]


# -- states -------------------------------------------------------------------------------------


def test_states_values_are_lowercase_names() -> None:
    assert [s.value for s in ProcState] == [s.name.lower() for s in ProcState]
    assert len(ProcState) == 7


def test_states_table_has_an_entry_per_state() -> None:
    assert set(TRANSITIONS) == set(ProcState)


@pytest.mark.parametrize(("old", "new"), ALL_PAIRS, ids=lambda s: str(s))
def test_states_transition_legal_or_illegal(old: ProcState, new: ProcState) -> None:
    if (old, new) in LEGAL:
        check_transition(old, new)
        return
    with pytest.raises(IllegalStateChange) as err:
        check_transition(old, new)
    assert isinstance(err.value, OrchestratorError)
    assert (err.value.old, err.value.new) == (old, new)
    assert f"{old.value} -> {new.value}" in str(err.value)


def test_states_same_state_is_never_a_transition() -> None:
    assert all(s not in TRANSITIONS[s] for s in ProcState)


# -- ExitStatus.describe ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sig", "text"),
    [
        (0, None, "exited 0"),
        (3, None, "exited 3"),
        (None, SIGKILL, "killed by SIGKILL"),
        (None, int(signal.SIGTERM), "killed by SIGTERM"),
        (None, 250, "killed by signal 250"),
        (None, None, "exited (status unknown)"),
    ],
)
def test_exit_status_phrases(code: int | None, sig: int | None, text: str) -> None:
    assert ExitStatus(code, sig).describe() == text


@pytest.mark.parametrize(
    ("returncode", "code", "sig", "terse"),
    [(0, 0, None, "exit 0"), (3, 3, None, "exit 3"), (-9, None, 9, "killed by SIGKILL")],
)
def test_exit_status_decodes_a_returncode(
    returncode: int, code: int | None, sig: int | None, terse: str
) -> None:
    status = ExitStatus.from_returncode(returncode)
    assert (status.exit_code, status.signal, status.returncode) == (code, sig, returncode)
    assert status.describe(terse=True) == terse
    assert ExitStatus(None, None).describe(terse=True) == "unknown exit status"


# -- decisions that stop ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["always", "on-failure", "never"])
@pytest.mark.parametrize(("code", "sig"), [(0, None), (1, None), (None, SIGKILL)])
def test_policy_requested_exit_stops_and_never_counts(
    mode: str, code: int | None, sig: int | None
) -> None:
    t = tracker(mode=mode, max_failures=1)
    for i in range(3):
        d = t.on_exit(Exit(code, sig, uptime=0.1, requested=True), now=float(i))
        assert d.action == "stop"
        assert d.reason.endswith("(stopped on request)")
    assert (t.failures, t.restarts) == (0, 0)


@pytest.mark.parametrize(("code", "sig"), [(0, None), (1, None), (None, SIGKILL)])
def test_policy_never_mode_stops(code: int | None, sig: int | None) -> None:
    t = tracker(mode="never")
    d = t.on_exit(crash(0.1, code, sig), now=0.0)
    assert d == Decision(Action.STOP, 0.0, f"{ExitStatus(code, sig).describe()} (restart = never)")
    assert t.failures == 0


def test_policy_on_failure_clean_exit_stops() -> None:
    t = tracker(mode="on-failure")
    assert t.on_exit(clean(30.0), now=0.0) == Decision(
        Action.STOP, 0.0, "exited 0 (restart = on-failure)"
    )
    assert (t.failures, t.restarts) == (0, 0)


# -- decisions that restart ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "ex", "reason"),
    [
        ("on-failure", crash(5.0), "exited 1 after 5.0s; restarting at once"),
        (
            "on-failure",
            crash(5.0, None, SIGKILL),
            "killed by SIGKILL after 5.0s; restarting at once",
        ),
        ("always", crash(5.0), "exited 1 after 5.0s; restarting at once"),
        ("always", clean(5.0), "exited 0 after 5.0s; restarting at once"),
        ("always", crash(1.0), "exited 1 after 1.0s; restarting at once"),  # uptime == startsecs
    ],
)
def test_policy_crash_after_good_start_restarts_at_once(mode: str, ex: Exit, reason: str) -> None:
    t = tracker(mode=mode)
    d = t.on_exit(ex, now=100.0)
    assert d == Decision(Action.RESTART, 0.0, reason)
    assert d.next_state is S.STARTING
    assert (t.failures, t.restarts) == (0, 1)


def test_policy_always_clean_exits_while_starting_back_off() -> None:
    t = tracker(mode="always", max_failures=100)
    delays = [t.on_exit(clean(0.01), now=float(i)).delay for i in range(4)]
    assert delays == [0.5, 1.0, 2.0, 4.0]


def test_policy_start_failures_back_off_exponentially_to_the_cap() -> None:
    t = tracker(max_failures=1000, failure_window=1.0)
    decisions = [t.on_exit(crash(0.2), now=10.0 * i) for i in range(10)]
    assert [d.delay for d in decisions] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert all(d.action == "restart" and d.next_state is S.BACKOFF for d in decisions)
    assert decisions[2].reason == "exited 1 after 0.2s (start failed, 3rd time); retry in 2.0s"
    assert t.restarts == 10


@pytest.mark.parametrize(
    ("attempt", "rand", "low", "high"),
    [
        (1, 0.0, 0.45, 0.45),  # -10 %
        (1, 0.999999, 0.5499, 0.55),  # just under +10 %
        (3, 0.0, 1.8, 1.8),
        (3, 0.75, 2.1 - 1e-9, 2.1 + 1e-9),  # +5 %
        (20, 0.0, 54.0, 54.0),  # capped, then jittered down
        (20, 0.999999, 65.99, 66.0),  # never above backoff_max * (1 + jitter)
        (5000, 0.5, 60.0, 60.0),  # no overflow for absurd attempt counts
    ],
)
def test_policy_backoff_jitter_bounds(attempt: int, rand: float, low: float, high: float) -> None:
    assert low <= backoff_delay(RestartPolicy(), attempt, rand) <= high


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.75, 0.999999])
def test_policy_backoff_never_negative_nor_over_cap(rand: float) -> None:
    p = RestartPolicy(jitter=1.0)
    for attempt in range(1, 30):
        assert 0.0 <= backoff_delay(p, attempt, rand) <= p.backoff_max * 2


def test_policy_tracker_uses_its_rand_for_jitter() -> None:
    t = tracker(rand=0.0)
    assert t.on_exit(crash(0.1), now=0.0).delay == pytest.approx(0.45)


def test_policy_good_start_resets_backoff() -> None:
    t = tracker(max_failures=100)
    assert [t.on_exit(crash(0.1), now=float(i)).delay for i in range(3)] == [0.5, 1.0, 2.0]
    assert t.on_exit(crash(5.0), now=3.0).delay == 0.0  # it started fine, then crashed
    assert t.on_exit(crash(0.1), now=4.0).delay == 0.5  # a fresh run of failed starts


# -- fatal, window, stable uptime, reset --------------------------------------------------------


def test_policy_fatal_after_max_failures_within_window() -> None:
    t = tracker()  # 5 failures within 120 s
    decisions = [t.on_exit(crash(0.1), now=10.0 * i) for i in range(5)]
    assert [d.action for d in decisions] == ["restart"] * 4 + ["fatal"]
    assert decisions[-1].reason == "5 failures in 120s (last: exited 1 after 0.1s)"
    assert decisions[-1].next_state is S.FATAL
    assert (t.failures, t.restarts) == (5, 4)


def test_policy_crashes_after_good_starts_never_go_fatal() -> None:
    t = tracker(mode="always")
    actions = [t.on_exit(crash(2.0), now=2.0 * i).action for i in range(20)]
    assert actions == ["restart"] * 20 and t.failures == 0


@pytest.mark.parametrize(
    ("times", "action"),
    [
        ([0, 30, 60, 90, 120], "fatal"),  # the window includes its edge
        ([0, 30, 60, 90, 120.5], "restart"),  # the first one just left the window
        ([0, 100, 200, 300, 400, 500, 600], "restart"),  # spread out: never fatal
    ],
)
def test_policy_failures_spread_beyond_window_are_not_fatal(
    times: list[float], action: str
) -> None:
    t = tracker()
    decisions = [t.on_exit(crash(0.1), now=now) for now in times]
    assert decisions[-1].action == action
    assert all(d.action == "restart" for d in decisions[:-1])


def test_policy_stable_uptime_forgets_earlier_failures() -> None:
    t = tracker()
    for i in range(4):
        t.on_exit(crash(0.1), now=float(i))
    assert t.failures == 4
    d = t.on_exit(crash(60.0), now=64.0)  # ran stable_after seconds before dying
    assert d == Decision(Action.RESTART, 0.0, "exited 1 after 60.0s; restarting at once")
    assert t.failures == 0
    assert t.on_exit(crash(0.1), now=65.0).delay == 0.5


def test_policy_short_of_stable_uptime_keeps_failures() -> None:
    t = tracker()
    for i in range(4):
        t.on_exit(crash(0.1), now=float(i))
    assert t.on_exit(crash(59.0), now=63.0).action == "restart"  # a good start, not stable
    assert t.failures == 4
    assert t.on_exit(crash(0.1), now=64.0).action == "fatal"


def test_policy_reset_clears_failures_and_backoff_but_keeps_restarts() -> None:
    t = tracker()
    decisions = [t.on_exit(crash(0.1), now=float(i)) for i in range(5)]
    assert decisions[-1].action == "fatal"
    t.reset()
    assert (t.failures, t.restarts) == (0, 4)
    d = t.on_exit(crash(0.1), now=6.0)
    assert (d.action, d.delay) == ("restart", 0.5)
    assert t.failures == 1


def test_policy_max_failures_one_is_fatal_at_once() -> None:
    t = tracker(max_failures=1)
    assert t.on_exit(crash(10.0), now=0.0).action == "restart"
    assert t.on_exit(crash(0.1), now=1.0).action == "fatal"


# -- policy validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", "sometimes"),
        ("startsecs", -1.0),
        ("backoff_initial", -0.5),
        ("backoff_factor", 0.5),
        ("backoff_max", -1.0),
        ("jitter", 1.5),
        ("jitter", -0.1),
        ("stable_after", -1.0),
        ("max_failures", 0),
        ("failure_window", -1.0),
    ],
)
def test_policy_rejects_invalid_values(field: str, value: float | str) -> None:
    with pytest.raises(ConfigError, match=field if field != "mode" else "always, on-failure"):
        RestartPolicy(**{field: value})  # type: ignore[arg-type]


def test_policy_defaults() -> None:
    p = RestartPolicy()
    assert (p.mode, p.startsecs, p.backoff_max, p.max_failures) == ("on-failure", 1.0, 60.0, 5)
