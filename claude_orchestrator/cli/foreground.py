"""Running a supervisor in this process (``up``, ``run``, ``leader``): the dashboard on a
terminal, else one line per event; signals are received by supervisor/signals.py."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from claude_orchestrator.cli.app import App


def run_foreground(app: App, cfg: Any, no_tui: bool, name: str | None = None) -> None:
    """Run a supervisor for ``cfg`` (supervisor/launch.py) until it stops."""
    from claude_orchestrator.supervisor.arbiter import Supervisor
    from claude_orchestrator.supervisor.signals import install_signal_handlers

    _configure_logging(quiet=not no_tui)
    tui = not no_tui and sys.stdout.isatty() and not app.settings.json_output
    sup = Supervisor(cfg, on_event=None if tui else _print_event(app))
    sup.name = name
    install_signal_handlers(sup.post)
    if tui:
        _run_with_dashboard(sup)
    else:
        sup.run()


def _run_with_dashboard(sup: Any) -> None:
    """Live renders on its own thread from the latest snapshot; the supervisor loop only
    swaps a reference, so a terminal that stops reading can never stall supervision."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from claude_orchestrator.cli.keys import quit_key
    from claude_orchestrator.supervisor.events import Signal, SignalReceived
    from claude_orchestrator.supervisor.screen import fit

    latest: dict[str, Any] = {}
    console = Console()

    def current() -> Any:
        snap = latest.get("snap")
        # One line short of the terminal: a full screen would scroll on each refresh.
        height = max(console.size.height - 1, 1)
        return fit(snap, time.time(), height) if snap is not None else Text("starting…")

    live = Live(get_renderable=current, console=console, refresh_per_second=2, transient=False)
    with quit_key(lambda: sup.post(SignalReceived(Signal.INT))), live:
        sup.snapshot_watchers.append(lambda snap: latest.__setitem__("snap", snap))
        sup.run()


def _print_event(app: App) -> Any:
    import json

    from claude_orchestrator.supervisor.snapshot import event_line_text

    def emit(line: Any) -> None:
        text = json.dumps(line.to_dict()) if app.settings.json_output else event_line_text(line)
        click.echo(text)

    return emit


def _configure_logging(quiet: bool) -> None:
    import logging

    from claude_orchestrator.logtext import EscapingFormatter

    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    if quiet:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("claude_orchestrator.worker").addHandler(handler)
