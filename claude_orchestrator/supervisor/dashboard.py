"""Rendering a state snapshot: the ``ps`` table, the live dashboard and ``--no-tui`` lines.

Every function here is a pure function of a :class:`Snapshot` (or part of one)
and a clock reading passed in, so the dashboard is tested by rendering into a
fixed-size, colourless console. No ZooKeeper access and no I/O; the caller
owns the ``rich.live.Live`` and the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.console import (
    Console,
    ConsoleOptions,
    Group,
    RenderableType,
    RenderResult,
)
from rich.measure import Measurement
from rich.rule import Rule
from rich.table import Column, Table
from rich.text import Text

from claude_orchestrator.supervisor.chainboard import ChainTable
from claude_orchestrator.supervisor.plaintext import (
    MISSING,
    clock_text,
    uptime_text,
)
from claude_orchestrator.supervisor.pstable import (
    PS_DROP_ORDER,
    TeamTable,
    cell,
    fixed,
    flex,
    ps_hidden,
    ps_table,
    state_text,
)
from claude_orchestrator.supervisor.snapshot import (
    COUNT_KEYS,
    EventLine,
    Snapshot,
    TaskLine,
    event_line_text,
)
from claude_orchestrator.textsafe import escape

__all__ = [
    "PS_DROP_ORDER",
    "TeamTable",
    "event_line_text",
    "ps_hidden",
    "ps_table",
    "render",
    "state_text",
    "uptime_text",
]

EVENT_STYLES: Mapping[str, str] = {
    "joined": "green",
    "started": "green",
    "completed": "green",
    "claimed": "cyan",
    "restarted": "yellow",
    "backoff": "yellow",
    "recovered": "magenta",
    "failed": "red",
    "fatal": "bold red",
    "left": "dim",
    "stopped": "dim",
}
COUNT_STYLES: Mapping[str, str] = {
    "pending": "yellow",
    "active": "cyan",
    "blocked": "magenta",
    "failed": "red",
    "completed": "green",
}
MAX_EVENTS = 10
MAX_PENDING = 5
MAX_IN_PROGRESS = 8
#: below this width the pending head and the work in progress are stacked, not side by side
SIDE_BY_SIDE_MIN = 96


def _pack(items: Iterable[Text], width: int, gap: str) -> Text:
    """Join items on lines no wider than ``width``, never splitting an item across lines."""
    out = Text()
    line_len = 0
    for item in items:
        if line_len and line_len + len(gap) + item.cell_len > width:
            out.append("\n")
            line_len = 0
        elif line_len:
            out.append(gap)
            line_len += len(gap)
        out.append_text(item)
        line_len += item.cell_len
    return out


class Packed:
    """Items joined on as few lines as the width allows, never splitting an item."""

    def __init__(self, items: Sequence[Text], gap: str = "   ") -> None:
        self.items = items
        self.gap = gap

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield _pack(self.items, options.max_width, self.gap)


# -- the task board ---------------------------------------------------------------------------


def count_items(counts: Mapping[str, int]) -> list[Text]:
    """One "state N" item per task state: the known ones in order, then any others."""
    keys = [*COUNT_KEYS, *(k for k in counts if k not in COUNT_KEYS)]
    items = []
    for key in keys:
        value = counts.get(key, 0)
        style = COUNT_STYLES.get(key, "") if value else "dim"
        label = escape(key, one_line=True)
        items.append(Text.assemble((label, style), " ", (str(value), "bold" if value else "dim")))
    return items


def _board_table(*columns: Column) -> Table:
    return Table(*columns, box=None, header_style="bold", pad_edge=False, expand=True)


def pending_table(head: Sequence[TaskLine]) -> Table:
    """The next tasks to be claimed: id, priority, title."""
    table = _board_table(fixed("PENDING"), fixed("PRI", "right"), flex("TITLE", ratio=1))
    for task in head[:MAX_PENDING]:
        table.add_row(cell(task.id), cell(f"p{task.priority}"), cell(task.title))
    if not head:
        table.add_row(cell("none", "dim"))
    return table


def in_progress_table(tasks: Sequence[TaskLine], now: float) -> Table:
    """What is being worked on, by whom and for how long."""
    table = _board_table(
        fixed("IN PROGRESS"), flex("WORKER"), flex("TITLE", ratio=1), fixed("", "right")
    )
    for task in tasks[:MAX_IN_PROGRESS]:
        since = MISSING if task.since is None else f"for {uptime_text(task.since, now)}"
        table.add_row(cell(task.id), cell(task.worker, "bold"), cell(task.title), cell(since))
    if len(tasks) > MAX_IN_PROGRESS:
        table.add_row(cell(f"… {len(tasks) - MAX_IN_PROGRESS} more", "dim"))
    if not tasks:
        table.add_row(cell("none", "dim"))
    return table


def blocked_table(tasks: Sequence[TaskLine]) -> Table:
    """Blocked tasks, who blocked them and why (the reason is what someone must act on)."""
    table = _board_table(fixed("BLOCKED"), flex("WORKER"), flex("REASON", ratio=1))
    for task in tasks:
        table.add_row(cell(task.id), cell(task.worker, "bold"), cell(task.reason or task.title))
    return table


class TaskBoard:
    """Counts per state, the pending head and the work in progress, laid out for the width.

    A renderable rather than a fixed layout because only render time knows the
    width: side by side saves the lines a 30-row terminal needs for events.
    """

    def __init__(self, snap: Snapshot, now: float) -> None:
        self.snap = snap
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Packed(count_items(self.snap.counts))
        yield from self._tables(console, options)
        if self.snap.blocked:
            yield blocked_table(self.snap.blocked)

    def _tables(self, console: Console, options: ConsoleOptions) -> RenderResult:
        pending = pending_table(self.snap.pending_head)
        working = in_progress_table(self.snap.in_progress, self.now)
        if options.max_width < SIDE_BY_SIDE_MIN:
            yield pending
            yield working
            return
        # Work in progress gets its natural width (up to 3/5): its titles are the ones that
        # matter now, and the pending head makes do with the rest.
        gap = 2
        natural = Measurement.get(console, options, working).maximum
        grid = Table.grid(expand=True, padding=(0, gap))  # a grid collapses padding: one gap
        grid.add_column(ratio=1)
        grid.add_column(width=min(natural, (options.max_width - gap) * 3 // 5))
        grid.add_row(pending, working)
        yield grid


# -- events and the whole dashboard -----------------------------------------------------------


def events_table(events: Sequence[EventLine], limit: int = MAX_EVENTS) -> Table:
    """The last ``limit`` events, oldest first: time, kind, worker, task, text."""
    table = Table.grid(
        fixed("at"), fixed("kind"), flex("worker"), flex("task"), flex("text", ratio=1),
        padding=(0, 1),
        expand=True,
    )  # fmt: skip
    for ev in events[-limit:] if limit > 0 else ():
        table.add_row(
            cell(clock_text(ev.at), "dim"),
            cell(ev.kind, EVENT_STYLES.get(ev.kind, "")),
            cell(ev.worker, "bold", empty=""),
            cell(ev.task, empty=""),
            cell(" ".join(ev.text.split()), empty=""),
        )
    return table


def header_items(snap: Snapshot, now: float) -> list[Text]:
    """Team, ZooKeeper hosts (and whether embedded), leadership, supervisor and time."""
    embedded = " (embedded)" if snap.embedded else ""
    leader = ("yes", "green") if snap.leader else ("no", "yellow")
    team, hosts = escape(snap.team, one_line=True), escape(snap.zookeeper or MISSING, one_line=True)
    host = escape(snap.host or MISSING, one_line=True)
    return [
        Text.assemble(("team ", "dim"), (team, "bold")),
        Text.assemble(("zookeeper ", "dim"), hosts, embedded),
        Text.assemble(("leader ", "dim"), leader, _label(snap.name)),
        Text.assemble(("supervisor ", "dim"), f"{host}:{snap.pid}"),
        Text(clock_text(now)),
    ]


def _label(name: str | None) -> str:
    return f" ({escape(name, one_line=True)})" if name else ""


def _section(title: str) -> Rule:
    return Rule(Text(title, style="bold"), style="dim", align="left")


def top_sections(snap: Snapshot, now: float) -> list[RenderableType]:
    """Everything above the events: header, team, chain board (when there are chains),
    task board. The chains come before the tasks: a short terminal cuts the board first,
    and a chain that needs a human is the line that must stay in sight."""
    team: RenderableType = TeamTable(snap.workers, now)
    if not snap.workers:
        team = Text("no workers", style="dim")
    chains: list[RenderableType] = []
    if snap.chains:
        chains = [_section("chains"), ChainTable(snap.chains, snap.chains_more)]
    return [
        Packed(header_items(snap, now), gap="  "),
        _section("team"),
        team,
        *chains,
        _section("tasks"),
        TaskBoard(snap, now),
    ]


def events_section(snap: Snapshot, limit: int = MAX_EVENTS) -> list[RenderableType]:
    """The events rule and the newest ``limit`` events (one line each)."""
    if not snap.events:
        return [_section("events"), Text("no events yet", style="dim")]
    return [_section("events"), events_table(snap.events, limit)]


def render(snap: Snapshot, now: float) -> RenderableType:
    """The whole dashboard for one snapshot: header, team, chains, task board, recent
    events."""
    return Group(*top_sections(snap, now), *events_section(snap))
