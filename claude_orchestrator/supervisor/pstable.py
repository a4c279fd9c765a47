"""The team table (``ps`` and the dashboard's team section) and the one-line cells it is
made of: a pure rendering of worker rows, narrowed predictably for the width.

Columns are left out, never wrapped: first those with no value in any row, then in
PS_DROP_ORDER; a dim note names the left-out columns that had values.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.table import Column, Table
from rich.text import Text

from claude_orchestrator.supervisor.plaintext import (
    MISSING,
    clock_text,
    cost_text,
    duration_text,
    uptime_text,
)
from claude_orchestrator.supervisor.snapshot import WorkerRow
from claude_orchestrator.textsafe import escape

STATE_STYLES: Mapping[str, str] = {
    "running": "green",
    "starting": "yellow",
    "backoff": "yellow",
    "stopping": "yellow",  # transitional, like starting
    "exited": "red",
    "fatal": "bold red",
    "stopped": "dim",
    "unknown": "dim",  # its supervisor stopped publishing
    "lost": "bold red",  # its host went without stopping (zk/hosts.py)
}

# -- cells ------------------------------------------------------------------------------------


def cell(value: str | None, style: str = "", empty: str = MISSING) -> Text:
    """A one-line cell that is cut with "…" rather than wrapped when its column shrinks.

    Snapshot text comes from task titles, agents and peers: its control characters are
    spelled out (textsafe), and a Text is never parsed as rich markup.
    """
    return Text(
        escape(value or empty, one_line=True), style=style, no_wrap=True, overflow="ellipsis"
    )


def state_text(row: WorkerRow, now: float) -> Text:
    """The coloured state; a backoff says when the next try is due."""
    label = row.state
    if row.state == "backoff" and row.next_try_at is not None:
        # Round up: "retry in 0s" while the retry is still ahead would read as overdue.
        label = f"backoff (retry in {duration_text(math.ceil(row.next_try_at - now))})"
    elif row.state == "lost" and row.last_seen is not None:
        label = f"lost (last seen {clock_text(row.last_seen)})"
    elif row.state == "running" and row.paused_until is not None and row.paused_until > now:
        why = f" ({row.paused_reason[:40]})" if row.paused_reason else ""
        return cell(f"paused until {clock_text(row.paused_until)}{why}", "yellow")
    elif row.state == "running" and row.paused_until is None and row.paused_reason:
        return cell(f"held ({row.paused_reason[:60]})", "yellow")  # a budget is spent
    return cell(label, STATE_STYLES.get(row.state, ""))


@dataclass(frozen=True)
class PsColumn:
    """How one column of a table behaves when the width runs short."""

    header: str
    justify: JustifyMethod = "left"
    flex: bool = False  # gives up width first: cut with "…", down to FLEX_MIN


def column(col: PsColumn, ratio: int | None = None) -> Column:
    if col.flex:
        return Column(cell(col.header), justify=col.justify, overflow="ellipsis", ratio=ratio)
    return Column(col.header, justify=col.justify, no_wrap=True, overflow="ellipsis")


def fixed(header: str, justify: JustifyMethod = "left") -> Column:
    """A column kept at its natural width while others shrink."""
    return column(PsColumn(header, justify))


def flex(header: str, ratio: int | None = None) -> Column:
    """A column that gives up width first; its cells are cut, never wrapped."""
    return column(PsColumn(header, flex=True), ratio)


# -- the team table (ps) ----------------------------------------------------------------------

PS_COLUMNS = (
    PsColumn("NAME"),
    PsColumn("ROLE", flex=True),
    PsColumn("HOST", flex=True),
    PsColumn("STATE"),
    PsColumn("PID", "right"),
    PsColumn("UPTIME", "right"),
    PsColumn("RESTARTS", "right"),
    PsColumn("LAST EXIT", flex=True),
    PsColumn("TASK"),  # a task id is useless cut short, so it never shrinks
    PsColumn("COST", "right"),
)
#: columns left out, in this order, while the team table would not fit the width otherwise
#: (after any of them, and COST, with no value in any row): who does what, and where, last
PS_DROP_ORDER = ("RESTARTS", "UPTIME", "PID", "LAST EXIT", "HOST", "ROLE")
FLEX_MIN = 10  # cut narrower than this a cell says too little: leave the column out
COLUMN_GAP = 2  # box=None and padding (0, 1) without edges: two spaces between columns


def ps_table(workers: Sequence[WorkerRow], now: float, hide: Collection[str] = ()) -> Table:
    """The team as ``ps`` shows it: one row per worker, without the ``hide`` columns."""
    shown = [i for i, col in enumerate(PS_COLUMNS) if col.header not in hide]
    table = Table(
        *(column(PS_COLUMNS[i]) for i in shown), box=None, header_style="bold", pad_edge=False
    )
    for row in workers:
        cells = _ps_cells(row, now)
        table.add_row(*(cells[i] for i in shown))
    return table


def ps_hidden(workers: Sequence[WorkerRow], now: float, width: int) -> tuple[str, ...]:
    """The fewest columns to leave out for the team table to fit ``width``: first those
    with no value in any row, then in PS_DROP_ORDER."""
    rows = [_ps_cells(row, now) for row in workers]
    order = [*_empty_columns(rows), *(h for h in PS_DROP_ORDER if h not in _empty_columns(rows))]
    for count in range(len(order) + 1):
        hidden = tuple(order[:count])
        if _ps_min_width(rows, hidden) <= width:
            return hidden
    return tuple(order)


def _empty_columns(rows: Sequence[Sequence[Text]]) -> list[str]:
    droppable = (*PS_DROP_ORDER, "COST")
    return [
        col.header
        for i, col in enumerate(PS_COLUMNS)
        if col.header in droppable and all(row[i].plain == MISSING for row in rows)
    ]


def hidden_note(workers: Sequence[WorkerRow], now: float, hidden: Collection[str]) -> Text | None:
    """Names the columns left out that had something to show (``--json`` has them all)."""
    empty = _empty_columns([_ps_cells(row, now) for row in workers])
    lost = [h for h in hidden if h not in empty]
    if not lost:
        return None
    return Text(f"not shown at this width: {', '.join(lost)} (--json has every field)", "dim")


def _ps_min_width(rows: Sequence[Sequence[Text]], hidden: Collection[str]) -> int:
    """Width of the table once its flex columns are cut down to FLEX_MIN."""
    widths = []
    for i, col in enumerate(PS_COLUMNS):
        if col.header in hidden:
            continue
        natural = max([len(col.header), *(row[i].cell_len for row in rows)])
        widths.append(min(natural, FLEX_MIN) if col.flex else natural)
    return sum(widths) + COLUMN_GAP * (len(widths) - 1)


def _ps_cells(row: WorkerRow, now: float) -> list[Text]:
    return [
        cell(row.name, "bold"),
        cell(row.role),
        cell(row.host),
        state_text(row, now),
        cell(MISSING if row.pid is None else str(row.pid)),
        cell(uptime_text(row.started_at, now)),
        cell(str(row.restarts), "yellow" if row.restarts else ""),
        cell(row.last_exit),
        cell(row.current_task),
        cell(cost_text(row.cost_usd)),
    ]


class TeamTable:
    """The team table with the least useful columns left out when the width is short."""

    def __init__(self, workers: Sequence[WorkerRow], now: float, note: bool = True) -> None:
        self.workers = workers
        self.now = now
        self.note = note  # say which columns with values were left out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        hidden = ps_hidden(self.workers, self.now, options.max_width)
        yield ps_table(self.workers, self.now, hidden)
        note = hidden_note(self.workers, self.now, hidden) if self.note else None
        if note is not None:
            yield note
