"""The live dashboard fitted to the terminal's height: the newest events stay visible.

rich's ``Live`` cuts a renderable taller than the terminal at the bottom, which is
where the newest events are. :class:`Screen` renders the top sections (header,
team, task board) first, gives the events every line left (at least MIN_EVENTS,
as many as the snapshot holds), and when the terminal is too short cuts the top
sections rather than the events. Pure rendering, like dashboard.py: no I/O.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment

from claude_orchestrator.supervisor.dashboard import events_section, top_sections
from claude_orchestrator.supervisor.snapshot import Snapshot

MIN_EVENTS = 3  # a short terminal still shows the last few events, cutting the board instead


class Screen:
    """The dashboard in at most ``height`` lines."""

    def __init__(self, snap: Snapshot, now: float, height: int) -> None:
        self.snap = snap
        self.now = now
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        opts = options.update(height=None)
        top = console.render_lines(Group(*top_sections(self.snap, self.now)), opts, pad=False)
        room = max(self.height - len(top) - 1, MIN_EVENTS)  # one line for the events rule
        bottom = console.render_lines(Group(*events_section(self.snap, room)), opts, pad=False)
        keep = max(self.height - len(bottom), 0)
        for line in [*top[:keep], *bottom][-self.height :] if self.height > 0 else ():
            yield from line
            yield Segment.line()


def fit(snap: Snapshot, now: float, height: int) -> RenderableType:
    """The dashboard for a terminal ``height`` lines tall."""
    return Screen(snap, now, height)
