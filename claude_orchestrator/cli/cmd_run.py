"""`run --worker N`: the seed 0.4 quick start — N workers here, no team file.

The team is the defaults of the current directory (its state dir, its embedded
server, team name from ``--team``/``CO_TEAM`` or "default") with N workers added
in memory; everything else is ``up`` in the foreground.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import OrchestratorError, UsageError

#: the seed's roles, in order; past these every worker is another builder
SEED_ROLES = ("planner", "builder", "verifier", "reviewer", "accepter")
#: the seed's names, in order (its ``run`` took them the same way); past these, worker-N
SEED_NAMES = [
    "Tom",
    "Jerry",
    "Lucy",
    "Thomas",
    "Jack",
    "Lisa",
    "Alice",
    "Bob",
    "Charlie",
    "Diana",
    "Edward",
    "Fiona",
    "George",
    "Helen",
    "Ivan",
    "Julia",
    "Kevin",
    "Linda",
    "Mike",
    "Nancy",
]
MAX_WORKERS = 32


def run_worker_names(count: int) -> list[tuple[str, str]]:
    """(name, role) of the first ``count`` workers: Tom the planner, Jerry the builder, …"""
    names = [*SEED_NAMES, *(f"worker-{n}" for n in range(len(SEED_NAMES) + 1, count + 1))]
    roles = [*SEED_ROLES, *["builder"] * max(0, count - len(SEED_ROLES))]
    return list(zip(names[:count], roles[:count], strict=True))


def run_team(team: Any, count: int) -> Any:
    """The directory's default team with ``count`` workers in its work dir."""
    from claude_orchestrator.conf.team import WorkerSpec

    workers = tuple(
        WorkerSpec(name=name, role=role, work_dir=team.work_dir, agent=team.agent)
        for name, role in run_worker_names(count)
    )
    return team._replace(workers=workers)


@click.command("run")
@click.option(
    "--worker",
    "count",
    type=click.IntRange(1, MAX_WORKERS),
    required=True,
    metavar="N",
    help="How many workers: planner, builder, verifier, reviewer, accepter, then builders.",
)
@click.option("-y", "--yes", is_flag=True, help="Start without asking.")
@click.option("--no-tui", is_flag=True, help="Print events as log lines, no dashboard.")
@global_options
@pass_app
def run(app: App, count: int, yes: bool, no_tui: bool) -> None:
    """Bring up N agent workers in this directory, no team file needed (foreground)."""
    from claude_orchestrator.cli.foreground import run_foreground
    from claude_orchestrator.supervisor.launch import supervisor_config
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid

    s = app.settings
    if s.team_file is not None:
        raise UsageError(f"there is a team file here ({s.team_file}): use 'up' to start it")
    running = live_supervisor_pid(s.state_dir)
    if running is not None:
        raise OrchestratorError(f"a team already runs here (supervisor pid {running}): see 'ps'")
    team = run_team(s.team_config, count)
    _confirm(team, yes)
    app.__dict__["settings"] = s._replace(team_config=team)  # cached_property
    run_foreground(app, supervisor_config(app.settings, (), True, 10.0), no_tui)


def _confirm(team: Any, yes: bool) -> None:
    names = ", ".join(w.name for w in team.workers)
    question = f"Start {len(team.workers)} '{team.agent}' workers ({names}) in {team.work_dir}?"
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} — not asked without a terminal: pass -y")
    if not click.confirm(question, default=False):
        raise OrchestratorError("not started")


COMMANDS: list[Any] = [run]
