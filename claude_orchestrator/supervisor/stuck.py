"""When to look at each running worker's heartbeat: when it would be stuck had it not beaten
since it was last seen, not on a fixed tick for all of them.

A worker's loop renews its instance's ``heartbeat_at`` every few seconds; one whose heartbeat
is older than ``stuck_after`` is killed (supervisor/pool.py ``kill_silent``). Reading every
worker's heartbeat every ten seconds costs two ZooKeeper reads per worker per tick — most of
an idle supervisor's work at fifty workers. Each worker is looked at once its last heartbeat
seen is ``stuck_after`` old (a healthy one has beaten since, so one read per worker per
``stuck_after``), which also finds a stuck one as soon as it is stuck. Pure: the loop owns it
and passes the time in.
"""

from __future__ import annotations

Key = tuple[str, int]  # (worker name, pid): a later process of the same worker is another key

SLACK = 1.0  # look a little after the moment, so a heartbeat written just then is seen
GROUP = 10.0  # workers due within this much of the first are looked at together
UNKNOWN_RETRY = 3.0  # no heartbeat read (not registered yet, ZooKeeper away): look again soon


class StuckWatch:
    def __init__(self, stuck_after: float) -> None:
        self.stuck_after = stuck_after
        self.due: dict[Key, float] = {}

    def track(self, running: list[Key], now: float) -> None:
        """The workers running now: new ones are looked at ``stuck_after`` from now (they
        beat when they register), gone ones are forgotten."""
        keep = set(running)
        self.due = {key: due for key, due in self.due.items() if key in keep}
        for key in running:
            self.due.setdefault(key, now + self.stuck_after + SLACK)

    def next_due(self) -> float | None:
        return min(self.due.values(), default=None)

    def take_due(self, now: float) -> list[Key]:
        """The workers to look at now, with those due within ``GROUP`` seconds (one round
        of reads for several; reading early only moves a worker's next look earlier); each
        is put off until its answer comes (``seen``)."""
        if not any(due <= now for due in self.due.values()):
            return []
        soon = now + min(GROUP, self.stuck_after / 10)
        taken = [key for key, due in self.due.items() if due <= soon]
        for key in taken:
            self.due[key] = now + UNKNOWN_RETRY
        return taken

    def seen(self, ages: dict[Key, float | None], now: float) -> dict[Key, float | None]:
        """Heartbeat ages read (None: not known): when to look at each again; the ages
        of those still tracked, for the pool to decide."""
        for key, age in ages.items():
            if key not in self.due:
                continue
            if age is None:
                self.due[key] = now + UNKNOWN_RETRY
            else:
                self.due[key] = now + max(0.0, self.stuck_after - age) + SLACK
        return {key: age for key, age in ages.items() if key in self.due}
