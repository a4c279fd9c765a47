"""`logs`: one stream over the workers' session logs, each line prefixed by its worker.

The logs are files of this host's state dir: ``logs`` needs no ZooKeeper, except with
``--chain``, which reads the chain's tasks from it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import UsageError
from claude_orchestrator.textsafe import escape, json_text

if TYPE_CHECKING:
    from claude_orchestrator.spawn.logview import Admit

#: worker colours, handed out in sorted-name order so a worker keeps its colour between runs
PALETTE = (
    "cyan",
    "yellow",
    "green",
    "magenta",
    "blue",
    "bright_cyan",
    "bright_yellow",
    "bright_green",
    "bright_magenta",
    "bright_blue",
)


@click.command("logs")
@click.argument("workers", nargs=-1, metavar="[WORKER]...")
@click.option("-f", "--follow", is_flag=True, help="Keep printing as logs grow; Ctrl-C stops.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    metavar="N",
    help="Lines shown first from each session log.",
)
@click.option("--task", metavar="ID", help="Only the sessions of this task.")
@click.option(
    "--chain",
    "chain_id",
    metavar="ID",
    help="Only the sessions of this chain's tasks (read from ZooKeeper); -f picks up its "
    "new rounds.",
)
@click.option("--raw", is_flag=True, help="Print the logs as they are (no stream-json rendering).")
@global_options
@pass_app
def logs(
    app: App,
    workers: tuple[str, ...],
    follow: bool,
    lines: int,
    task: str | None,
    chain_id: str | None,
    raw: bool,
) -> None:
    """Show the agents' session logs of all (or the named) workers; -f follows them."""
    from claude_orchestrator.spawn.logview import LogTail

    tasks, admit = _task_filter(app, task, chain_id)
    _say_remote(app, workers)
    printer = Printer(_known_workers(app, workers), app.settings.json_output is True, raw)
    state_dir = app.settings.state_dir
    tail = LogTail(state_dir, workers or None, tasks, lines, raw, printer, admit)
    try:
        tail.backlog()
        if follow:
            tail.follow(threading.Event())
    except KeyboardInterrupt:
        return  # Ctrl-C is how a follow ends
    except BrokenPipeError:
        _silence_stdout()  # `logs | head`: the reader has seen enough


# -f means --follow here, as in every tail (DESIGN §6); the team file stays --file.
for _param in logs.params:
    if _param.name == "file":
        _param.opts = [opt for opt in _param.opts if opt != "-f"]


class Printer:
    """The sink of ``LogTail``: ``name | text`` lines in the worker's colour, or JSON lines.

    ``LogTail`` hands over rendered lines already escaped (textsafe), or with ``raw`` the
    lines as they are: those are printed untouched, even to a pipe (click would strip their
    colour codes otherwise), since ``--raw`` is the opt-out.
    """

    def __init__(self, workers: Iterable[str], as_json: bool, raw: bool = False) -> None:
        self._as_json = as_json
        self._raw = raw
        self._colours: dict[str, str] = {}
        self._width = 0
        for name in sorted(set(workers)):
            self._add(name)

    def __call__(self, worker: str, text: str) -> None:
        if self._as_json:
            click.echo(json_text({"worker": worker, "line": text}))
        elif self._raw:
            click.echo(f"{self._label(worker)} | ", nl=False, color=None)
            click.echo(text, color=True)
        else:
            click.echo(f"{self._label(worker)} | {text}", color=None)

    def _label(self, worker: str) -> str:
        if worker not in self._colours:
            self._add(worker)  # a worker whose first session started while following
        label = escape(worker, one_line=True)  # a session dir may be named anything
        return click.style(label.ljust(self._width), fg=self._colours[worker])

    def _add(self, name: str) -> None:
        self._colours[name] = PALETTE[len(self._colours) % len(PALETTE)]
        self._width = max(self._width, len(escape(name, one_line=True)))


def _task_filter(
    app: App, task: str | None, chain_id: str | None
) -> tuple[set[str] | None, Admit | None]:
    """The tasks whose sessions are shown (None: all), and who admits new ones (--chain)."""
    if task is not None and chain_id is not None:
        raise UsageError("--task and --chain: give one of them")
    if chain_id is None:
        return ({task} if task is not None else None), None
    from claude_orchestrator.zk.chains import check_chain_id

    try:
        check_chain_id(chain_id)
    except UsageError:
        raise UsageError(f"--chain: '{chain_id}' is not a chain id (chain-NNNNNNNNNN)") from None
    return _chain_tasks(app, chain_id)


def _chain_tasks(app: App, chain_id: str) -> tuple[set[str], Admit]:
    """The chain's tasks now (an unknown chain is an error), and the check that admits a
    task made later (a new round) when a session of it starts: one read of that task's
    record, once per session file of a task outside the set — not a re-listing of every
    task of the team each time another task's session starts."""
    from claude_orchestrator.errors import NotFoundError
    from claude_orchestrator.zk.chains import ChainStore
    from claude_orchestrator.zk.query import list_tasks
    from claude_orchestrator.zk.taskmodel import TASK_ID_RE

    team = app.team
    ChainStore(team.client, team.name).get(chain_id)
    known = {rec.id for rec in list_tasks(team.tasks, chain_id=chain_id)}

    def admit(task_ids: set[str]) -> set[str]:
        found = set()
        for task_id in sorted(t for t in task_ids if TASK_ID_RE.fullmatch(t)):
            try:
                rec = team.tasks.get(task_id)
            except NotFoundError:
                continue  # pruned, or a session file of another team's state dir
            if rec.chain_id == chain_id:
                found.add(task_id)
        return found

    return known, admit


def _known_workers(app: App, named: tuple[str, ...]) -> list[str]:
    """The names to align and colour: those asked for, else the team's and any with logs."""
    from claude_orchestrator.spawn.logview import worker_names

    if named:
        return list(named)
    settings = app.settings
    workers = settings.team_config.workers
    configured = [spec.name for spec in workers if spec.host in (None, settings.host)]
    return [*configured, *worker_names(settings.state_dir)]


def _say_remote(app: App, named: tuple[str, ...]) -> None:
    """Name, on stderr, the workers (of those asked for, else of the team) that the team
    file places on another host: their session logs are there, not here."""
    s = app.settings
    specs = [s.team_config.find_worker(n) for n in named] if named else s.team_config.workers
    elsewhere = [w for w in specs if w is not None and w.host not in (None, s.host)]
    if elsewhere:
        listed = ", ".join(f"{w.name} (on {w.host})" for w in elsewhere)
        click.echo(
            f"note: not shown, their logs are on their hosts: {listed}; each task's session "
            "excerpt is in 'show-task'",
            err=True,
        )


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the exit's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


COMMANDS = [logs]
