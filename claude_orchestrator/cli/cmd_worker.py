"""`worker`: run one worker loop in the foreground (what `up` spawns)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import UsageError
from claude_orchestrator.logtext import EscapingFormatter


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
    default="30s",
    show_default=True,
    help="On SIGTERM, how long a running agent may finish.",
)
@global_options
@pass_app
def worker(
    app: App, name: str, role: str | None, work_dir: Path | None, agent: str | None, grace: str
) -> None:
    """Run one worker: claim tasks and messages, run the agent, report. Ctrl-C stops it."""
    from claude_orchestrator.conf.agentcheck import check_agent_command
    from claude_orchestrator.conf.duration import parse_duration
    from claude_orchestrator.conf.exposure import refuse_open_exposure
    from claude_orchestrator.worker.build import WorkerFlags, worker_settings
    from claude_orchestrator.worker.loop import Worker

    try:
        grace_s = parse_duration(grace)
    except ValueError as exc:
        raise UsageError(f"--grace: {exc}") from exc
    flags = WorkerFlags(name, role, work_dir, agent, grace_s)
    app.refuse_stopped_server()  # a team file's embedded server that is not running
    ws = worker_settings(app.settings, flags, Path.cwd())
    check_agent_command(ws.name, ws.agent, ws.work_dir)
    refuse_open_exposure([(ws.name, ws.agent)], bool(ws.zk.auth), app.settings.team_config.insecure)
    _configure_logging()
    loop = Worker(ws)
    _install_signals(loop)
    sys.exit(loop.run())


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("claude_orchestrator")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _install_signals(loop: Any) -> None:
    interrupts = {"count": 0}

    def on_term(_sig: int, _frame: Any) -> None:
        loop.request_stop(now=False)

    def on_int(_sig: int, _frame: Any) -> None:
        interrupts["count"] += 1
        loop.request_stop(now=interrupts["count"] > 1)  # a second Ctrl-C stops the agent now

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)


COMMANDS: list[Any] = [worker]
