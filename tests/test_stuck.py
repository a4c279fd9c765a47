"""When the supervisor looks at each worker's heartbeat (supervisor/stuck.py): a pure
schedule, driven here with plain numbers for the clock."""

from __future__ import annotations

from claude_orchestrator.supervisor.stuck import SLACK, UNKNOWN_RETRY, StuckWatch


def test_a_new_worker_is_looked_at_once_it_could_be_stuck() -> None:
    watch = StuckWatch(stuck_after=90)
    watch.track([("ann", 1)], now=0)
    assert watch.take_due(now=90) == []
    assert watch.next_due() == 90 + SLACK
    assert watch.take_due(now=91) == [("ann", 1)]


def test_a_healthy_worker_is_looked_at_again_when_its_last_beat_is_stuck_after_old() -> None:
    watch = StuckWatch(stuck_after=90)
    watch.track([("ann", 1)], now=0)
    watch.take_due(now=91)
    ages = watch.seen({("ann", 1): 4.0}, now=91)  # it beat at 87
    assert ages == {("ann", 1): 4.0}
    assert watch.next_due() == 91 + 86 + SLACK


def test_a_worker_whose_age_is_unknown_is_looked_at_again_soon() -> None:
    watch = StuckWatch(stuck_after=90)
    watch.track([("ann", 1)], now=0)
    assert watch.take_due(now=100) == [("ann", 1)]
    assert watch.take_due(now=100) == []  # its answer is awaited
    watch.seen({("ann", 1): None}, now=101)
    assert watch.next_due() == 101 + UNKNOWN_RETRY


def test_gone_workers_are_forgotten_and_late_answers_ignored() -> None:
    watch = StuckWatch(stuck_after=90)
    watch.track([("ann", 1), ("bob", 2)], now=0)
    watch.take_due(now=100)
    watch.track([("ann", 1), ("bob", 3)], now=100)  # bob was restarted as pid 3
    assert watch.seen({("ann", 1): 200.0, ("bob", 2): 200.0}, now=101) == {("ann", 1): 200.0}
    assert sorted(watch.due) == [("ann", 1), ("bob", 3)]


def test_workers_due_close_together_are_looked_at_in_one_round() -> None:
    watch = StuckWatch(stuck_after=90)
    watch.track([("ann", 1)], now=0)
    watch.track([("ann", 1), ("bob", 2)], now=5)
    watch.track([("ann", 1), ("bob", 2), ("cat", 3)], now=60)
    assert watch.take_due(now=90) == []
    assert watch.take_due(now=91) == [("ann", 1), ("bob", 2)]  # cat is not due for a minute
