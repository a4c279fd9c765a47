"""The dashboard's chain board: one row per chain — its goal, status, spend and its items
compacted (``api r2 review ✓ · ui r1 build …``), a chain that needs a human in bold red
with the reason under its items, one awaiting approval in yellow.

A pure rendering of the snapshot's ``chains`` (read by teamread.py's ``ChainReader``),
like the rest of the dashboard: no ZooKeeper access and no I/O. Goals, reasons and item
keys come from people and agents: their control characters are spelled out (textsafe)
and never read as rich markup.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from claude_orchestrator.supervisor.plaintext import cost_text
from claude_orchestrator.supervisor.pstable import cell, fixed, flex
from claude_orchestrator.supervisor.snapshot import ChainLine, ItemLine
from claude_orchestrator.textsafe import escape

MAX_CHAINS = 6  # rows on the dashboard; the snapshot holds more (teamread.CHAINS_SHOWN)
NO_GOAL_BELOW = 96  # columns: narrower, the goal is left out (the items matter more)
NO_COST_BELOW = 64
ITEM_GAP = " · "
#: a whole row's style: the chains someone must act on stand out
ROW_STYLES: Mapping[str, str] = {"needs_human": "bold red", "awaiting_approval": "yellow"}
STATUS_STYLES: Mapping[str, str] = {
    "planning": "cyan",
    "running": "cyan",
    "done": "green",
    "failed": "red",
    "cancelled": "dim",
}
ITEM_STYLES: Mapping[str, str] = {"passed": "green", "needs_human": "bold red"}
VERDICT_MARKS: Mapping[str, str] = {"pass": "✓", "revise": "↻", "reject": "✗"}
WORKING = "…"


def item_text(item: ItemLine) -> str:
    """``api r2 review ✓``: key, round, the stage it is at and that stage's verdict (… while
    it is still to come); a planned item is its key alone."""
    key = escape(item.key, one_line=True)
    if item.stage is None:
        return key
    if item.verdict is not None:
        mark = VERDICT_MARKS.get(item.verdict, escape(item.verdict, one_line=True))
    else:
        mark = "✓" if item.status == "passed" else WORKING
    return f"{key} r{item.round} {escape(item.stage, one_line=True)} {mark}"


def items_text(chain: ChainLine, styled: bool = True) -> Text:
    """The chain's items on one line (a chain still planning: ``plan …``); ``styled``:
    each item coloured by its status (a highlighted row keeps its own colour)."""
    if not chain.items:
        return Text("plan …" if chain.status == "planning" else "-", style="dim")
    out = Text()
    for n, item in enumerate(chain.items):
        if n:
            out.append(ITEM_GAP, style="dim" if styled else "")
        out.append(item_text(item), style=ITEM_STYLES.get(item.status, "") if styled else "")
    if chain.items_more:
        out.append(f"{ITEM_GAP}+{chain.items_more} more", style="dim" if styled else "")
    return out


def _items_cell(chain: ChainLine, styled: bool) -> Text:
    """The items, and under them why a chain needs a human (both cut, never wrapped)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(items_text(chain, styled))
    if chain.status == "needs_human" and chain.reason:
        text.append("\n" + escape(chain.reason, one_line=True))
    if chain.git:
        warn = chain.git.startswith("may conflict") and styled
        text.append("\n" + escape(chain.git, one_line=True), style="yellow" if warn else "")
    return text


class ChainTable:
    """The chain board with the goal left out when the width is short (and the cost when
    it is very short): a chain's id, status and items say the most."""

    def __init__(self, chains: Sequence[ChainLine], more: int = 0, limit: int = MAX_CHAINS):
        self.chains, self.more, self.limit = chains, more, limit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        hide = {"GOAL", "COST"} if options.max_width < NO_COST_BELOW else set()
        if options.max_width < NO_GOAL_BELOW:
            hide.add("GOAL")
        yield chain_table(self.chains, self.more, self.limit, hide)


def chain_table(
    chains: Sequence[ChainLine],
    more: int = 0,
    limit: int = MAX_CHAINS,
    hide: Collection[str] = (),
) -> Table:
    """The first ``limit`` chains (the snapshot lists those to act on first) without the
    ``hide`` columns, and how many more there are."""
    columns = {
        "CHAIN": fixed("CHAIN"),
        "STATUS": fixed("STATUS"),
        "COST": fixed("COST", "right"),
        "GOAL": flex("GOAL", ratio=1),
        "ITEMS": flex("ITEMS", ratio=2),
    }
    shown = [name for name in columns if name not in hide]
    table = Table(
        *(columns[name] for name in shown),
        box=None, header_style="bold", pad_edge=False, expand=True,
    )  # fmt: skip
    for chain in chains[:limit]:
        row_style = ROW_STYLES.get(chain.status, "")
        cells = _cells(chain, highlighted=bool(row_style))
        table.add_row(*(cells[name] for name in shown), style=row_style)
    hidden = max(0, len(chains) - limit) + more
    if hidden:
        table.add_row(cell(f"… {hidden} more", "dim"))
    return table


def _cells(chain: ChainLine, highlighted: bool) -> dict[str, Text]:
    """A row's cells; a highlighted row keeps its own colour throughout."""
    return {
        "CHAIN": cell(chain.id, "" if highlighted else "bold"),
        "STATUS": cell(chain.status, "" if highlighted else STATUS_STYLES.get(chain.status, "")),
        "COST": cell(cost_text(chain.cost_usd)),
        "GOAL": cell(chain.title or chain.goal),
        "ITEMS": _items_cell(chain, styled=not highlighted),
    }
