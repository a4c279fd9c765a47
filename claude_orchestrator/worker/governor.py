"""A worker's side of the fleet governor (issue 13; docs/governor.md): it claims nothing
while its agent is paused, and pauses the agent for the whole team when a run ends on a
limit.

The pause record of the worker's agent (zk/governor.py) is watched with a DataWatch — kazoo
re-arms it after a reconnect and reads the record again — and its deadline kept here; the
watch's callback (kazoo's thread) only sets it and wakes the loop. ``wait`` tells the loop
how long it may sleep, so it wakes by itself when the pause ends: no polling.

SUSPENDED / LOST: the last deadline seen holds; the watch reads the record again on
reconnect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kazoo.recipe.watchers import DataWatch

from claude_orchestrator.spawn.limits import Limit
from claude_orchestrator.zk.codec import iso
from claude_orchestrator.zk.governor import Pause, Pauses, parse_pause

log = logging.getLogger(__name__)


class Governor:
    def __init__(self, pauses: Pauses, agent: str, by: str, wake: Callable[[], None]) -> None:
        self.pauses, self.agent, self.by, self.wake = pauses, agent, by, wake
        self.pause: Pause | None = None
        self.shown: Pause | None = None  # the pause the instance last said (None: none)
        self.report: Callable[[], None] | None = None  # writes ``state`` on the instance

    def watch(self) -> None:
        DataWatch(self.pauses.client, self.pauses.path(self.agent), self._changed)

    def _changed(self, data: bytes | None, _stat: Any) -> None:
        """kazoo's thread: keep the record, wake the loop to look again."""
        self.pause = parse_pause(data, self.pauses.path(self.agent))
        self.wake()

    def blocks(self, now: float) -> bool:
        """Whether the worker must not claim now; a change is said on the instance."""
        active = self.pause if self.pause is not None and self.pause.active(now) else None
        if active != self.shown:
            self.shown = active
            if self.report is not None:
                self.report()
        return active is not None

    def state(self) -> dict[str, Any] | None:
        """What the instance says: ``{agent, until, reason}`` while paused, else None."""
        if self.shown is None:
            return None
        return {"agent": self.agent, "until": iso(self.shown.until_ts), "reason": self.shown.reason}

    def wait(self, default: float, now: float) -> float:
        """How long the loop may sleep: no later than the pause's end."""
        if self.pause is None or not self.pause.active(now):
            return default
        return min(default, self.pause.until_ts - now + 0.01)

    def hit(self, limit: Limit, now: float | None = None) -> Pause:
        """A run ended on ``limit``: pause the agent for every worker running it."""
        pause = self.pauses.on_limit(self.agent, limit.until, limit.reason, self.by, now)
        self.pause = pause  # at once, before the watch says so
        shown = time.strftime("%H:%M:%S", time.localtime(pause.until_ts))
        log.warning("%s paused until %s: %s", self.agent, shown, pause.reason)
        return pause
