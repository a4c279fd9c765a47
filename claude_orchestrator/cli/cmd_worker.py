"""`worker`: run one worker loop in the foreground (what `up` spawns).

The supervisor's own argv for it skips click altogether (cli/workerentry.py); this command
parses every other spelling, with click's help and errors, and runs the same ``run_worker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.cli.workerentry import DEFAULT_GRACE, run_worker


@click.command("worker")
@click.option("--name", required=True, help="Worker name (its [[worker]] entry, if any, applies).")
@click.option("--role", help="Overrides the team file's role (default 'worker').")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the agent runs (default: the team file's, else here).",
)
@click.option("--agent", help="Agent preset or [agents.NAME] (default: the team's).")
@click.option(
    "--grace",
    default=DEFAULT_GRACE,
    show_default=True,
    help="On SIGTERM, how long a running agent may finish.",
)
@global_options
@pass_app
def worker(
    app: App, name: str, role: str | None, work_dir: Path | None, agent: str | None, grace: str
) -> None:
    """Run one worker: claim tasks and messages, run the agent, report. Ctrl-C stops it."""
    run_worker(lambda: app.settings, app.refuse_stopped_server, name, role, work_dir, agent, grace)


COMMANDS: list[Any] = [worker]
