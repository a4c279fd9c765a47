"""The pool as a unit: a fake spawner, a fake clock, scripted exit histories.

No process, no ZooKeeper, no thread: each test drives ``WorkerPool`` through starts,
exits and stops as the supervisor's loop would, and checks the states it reaches, the
signals it sends and the effects it returns (events, tasks to put back, "changed").
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from claude_orchestrator.conf.team import RestartMode, WorkerSpec
from claude_orchestrator.errors import ConfigError, SpawnError
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.process import ExitInfo
from claude_orchestrator.supervisor.effects import CHANGED, Effect, Note, PutBack
from claude_orchestrator.supervisor.policy import Action, Decision
from claude_orchestrator.supervisor.pool import WorkerPool
from claude_orchestrator.supervisor.states import ProcState

S = ProcState


class FakeProc:
    def __init__(self, pid: int) -> None:
        self.pid: int | None = pid


class FakeSpawner:
    """Hands out pids from 100 up and records every signal it is asked to send."""

    def __init__(self) -> None:
        self.next_pid = 100
        self.spawned: list[tuple[str, int]] = []
        self.signals: list[tuple[str, int]] = []  # ("term"|"kill"|"after_exit", pid)
        self.fail: set[str] = set()  # names whose next spawn fails

    def spawn(self, spec: WorkerSpec) -> FakeProc:
        if spec.name in self.fail:
            raise SpawnError(f"cannot start worker {spec.name}: no such file")
        self.next_pid += 1
        self.spawned.append((spec.name, self.next_pid))
        return FakeProc(self.next_pid)

    def terminate(self, pid: int) -> None:
        self.signals.append(("term", pid))

    def kill(self, pid: int) -> None:
        self.signals.append(("kill", pid))

    def after_exit(self, pid: int) -> None:
        self.signals.append(("after_exit", pid))

    def exit_reason(self, name: str, status: ExitStatus) -> str:
        return f"{status.describe()}: from {name}'s log"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def spec(name: str, restart: RestartMode = RestartMode.ON_FAILURE) -> WorkerSpec:
    return WorkerSpec(name, "worker", Path("/w"), "shell", restart)


@pytest.fixture
def spawner() -> FakeSpawner:
    return FakeSpawner()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_pool(spawner: FakeSpawner, clock: FakeClock, *specs: WorkerSpec) -> WorkerPool:
    return WorkerPool(specs or (spec("ann"), spec("bob")), spawner, clock, down_timeout=5.0)


def died(
    pool: WorkerPool, name: str, code: int | None = 1, sig: int | None = None, after: float = 30
) -> list[Effect]:
    """The worker's current process ends: how, and after how long it ran."""
    proc = pool.slots[name].proc
    assert proc is not None
    return pool.on_exit(name, proc, ExitInfo(code, sig, duration_s=after))


def notes(effects: list[Effect]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.worker) for e in effects if isinstance(e, Note)]


def up(pool: WorkerPool, *names: str) -> None:
    pool.bring_up(names)
    pool.registered({n: s.pid for n, s in pool.slots.items() if s.pid is not None})


# -- bringing up ------------------------------------------------------------------------


def test_bring_up_starts_every_worker_once(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock)
    first = pool.bring_up()
    assert first.reply == {"started": ["ann", "bob"], "kept": []}
    assert CHANGED in first.effects
    assert pool.bring_up().reply == {"started": [], "kept": ["ann", "bob"]}
    assert spawner.spawned == [("ann", 101), ("bob", 102)]
    assert pool.states() == {"ann": "starting", "bob": "starting"}


def test_unknown_workers_are_refused_and_nothing_starts(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock)
    with pytest.raises(ConfigError, match="unknown worker"):
        pool.bring_up(("ann", "zed"))
    assert spawner.spawned == [] and pool.slots == {}


def test_registration_runs_only_the_process_that_registered(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock)
    pool.bring_up()
    effects = pool.registered({"ann": 101, "bob": 999})  # bob's pid is someone else's
    assert notes(effects) == [("joined", "ann")]
    assert pool.states() == {"ann": "running", "bob": "starting"}


# -- exits on their own -------------------------------------------------------------------


def test_a_crash_after_a_good_start_respawns_at_once_and_recovers_its_tasks(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock)
    up(pool)
    effects = died(pool, "ann", sig=signal.SIGKILL, code=None)
    assert spawner.spawned[-1] == ("ann", 103)
    assert ("after_exit", 101) in spawner.signals  # what it left in its session
    assert notes(effects) == [("restarted", "ann")]
    assert PutBack("ann", 101, counted=True) in effects
    assert pool.slots["ann"].state is S.STARTING
    assert pool.slots["ann"].last_exit == "killed by SIGKILL: from ann's log"


def test_failed_starts_back_off_then_turn_fatal(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock, spec("ann"))
    pool.bring_up()
    kinds = []
    for _ in range(5):
        kinds += [k for k, _ in notes(died(pool, "ann", code=1, after=0.1))]
        due = pool.next_due()
        if due is None:
            break
        assert pool.converge() == []  # not yet
        clock.now = due
        pool.converge()
        assert pool.slots["ann"].state is S.STARTING
    assert kinds == ["backoff"] * 4 + ["fatal"]
    assert pool.slots["ann"].state is S.FATAL and pool.next_due() is None
    assert pool.bring_up(("ann",)).reply["started"] == ["ann"]  # up clears FATAL


def test_exit_code_2_is_fatal_at_once(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock, spec("ann"))
    up(pool)
    assert notes(died(pool, "ann", code=2)) == [("fatal", "ann")]
    assert len(spawner.spawned) == 1


def test_restart_never_leaves_it_stopped(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock, spec("ann", RestartMode.NEVER))
    up(pool)
    effects = died(pool, "ann", code=1)
    assert notes(effects) == [("stopped", "ann")]
    assert PutBack("ann", 101, counted=True) in effects


def test_an_exit_of_an_earlier_start_is_ignored(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock, spec("ann"))
    up(pool)
    old = pool.slots["ann"].proc
    assert old is not None
    died(pool, "ann", code=1)  # respawned as 102
    assert pool.on_exit("ann", old, ExitInfo(1, None, duration_s=1)) == []
    assert pool.slots["ann"].pid == 102


def test_a_respawn_that_cannot_start_is_fatal_and_still_puts_tasks_back(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock, spec("ann"))
    up(pool)
    spawner.fail.add("ann")
    effects = died(pool, "ann", code=1)
    assert pool.slots["ann"].state is S.FATAL
    assert notes(effects) == [("fatal", "ann")]
    assert PutBack("ann", 101, counted=True) in effects


@pytest.mark.parametrize(
    ("decision", "state", "event"),
    [
        (Decision(Action.RESTART, 0.0, "r"), S.STARTING, "restarted"),
        (Decision(Action.RESTART, 2.0, "r"), S.BACKOFF, "backoff"),
        (Decision(Action.FATAL, 0.0, "r"), S.FATAL, "fatal"),
        (Decision(Action.STOP, 0.0, "r"), S.STOPPED, "stopped"),
    ],
)
def test_an_exited_worker_moves_to_the_decisions_next_state(
    spawner: FakeSpawner, clock: FakeClock, decision: Decision, state: ProcState, event: str
) -> None:
    pool = make_pool(spawner, clock, spec("ann"))
    up(pool)
    slot = pool.slots["ann"]
    slot.proc = None
    slot.state = S.EXITED  # as on_exit leaves it before applying the decision
    out: list[Effect] = []
    pool.apply_decision(slot, decision, out)
    assert slot.state is state is decision.next_state
    assert notes(out) == [(event, "ann")]
    assert (slot.due_mono == clock.now + 2.0) is (state is S.BACKOFF)


# -- stopping ----------------------------------------------------------------------------


def test_stop_terms_then_kills_at_the_deadline_and_releases_tasks(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock)
    up(pool)
    assert pool.stop_all(2.0).reply == {"stopped": ["ann", "bob"]}
    assert spawner.signals == [("term", 101), ("term", 102)]
    assert pool.next_due() == clock.now + 2.0
    clock.advance(2.0)
    pool.converge()
    assert spawner.signals[-2:] == [("kill", 101), ("kill", 102)]
    effects = died(pool, "ann", sig=signal.SIGKILL, code=None)
    assert PutBack("ann", 101, counted=False) in effects  # a stop we asked for
    died(pool, "bob", code=0)
    assert pool.all_stopped() and pool.states() == {"ann": "stopped", "bob": "stopped"}
    assert len(spawner.spawned) == 2  # nothing restarted


def test_stopping_a_worker_in_backoff_cancels_its_retry(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock, spec("ann"))
    pool.bring_up()
    died(pool, "ann", code=1, after=0.1)
    assert pool.slots["ann"].state is S.BACKOFF
    assert pool.stop_all().reply == {"stopped": []}
    assert pool.states() == {"ann": "stopped"} and pool.next_due() is None


def test_restart_stops_running_workers_and_starts_them_when_reaped(
    spawner: FakeSpawner, clock: FakeClock
) -> None:
    pool = make_pool(spawner, clock)
    up(pool)
    died(pool, "bob", code=0)  # on-failure: stays stopped
    reply = pool.restart().reply
    assert reply == {"restarted": ["ann", "bob"], "started": [], "stopped": [], "kept": []}
    assert ("term", 101) in spawner.signals and spawner.spawned[-1] == ("bob", 103)
    died(pool, "ann", sig=signal.SIGTERM, code=None)
    assert spawner.spawned[-1] == ("ann", 104)
    assert pool.states() == {"ann": "starting", "bob": "starting"}
    assert pool.restart(("zed",)).reply == {"error": "unknown worker(s): zed"}


def test_reload_applies_only_the_difference(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock, spec("ann"), spec("bob"), spec("cat"))
    up(pool)
    changed = spec("bob", RestartMode.ALWAYS)
    outcome = pool.reload([spec("ann"), changed, spec("dan")])
    assert outcome.reply == {
        "started": ["dan"],
        "stopped": ["cat"],
        "restarted": ["bob"],
        "kept": ["ann"],
    }
    assert notes(outcome.effects)[-1] == ("reloaded", None)
    died(pool, "cat", sig=signal.SIGTERM, code=None)
    died(pool, "bob", sig=signal.SIGTERM, code=None)
    assert "cat" not in pool.slots
    assert pool.slots["bob"].spec == changed and pool.slots["bob"].state is S.STARTING


# -- the stuck check -----------------------------------------------------------------------


def test_only_the_same_silent_process_is_killed(spawner: FakeSpawner, clock: FakeClock) -> None:
    pool = make_pool(spawner, clock)
    up(pool)
    ages: dict[tuple[str, int], float | None] = {
        ("ann", 101): 120.0,  # silent
        ("bob", 555): 120.0,  # an earlier process of bob's
    }
    effects = pool.kill_silent(ages, stuck_after=90.0)
    assert notes(effects) == [("stuck", "ann")]
    assert spawner.signals == [("kill", 101)]
    assert pool.kill_silent({("ann", 101): 10.0, ("bob", 102): None}, 90.0) == []
