"""The fleet governor's commands: `pause`, `resume` (issue 13; docs/governor.md)."""

from __future__ import annotations

from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import UsageError


def _existing(app: App) -> None:
    """A reset is for a team that exists (a team is made by its first push-task, register
    or up; ``pause`` and ``resume`` open only an existing one too): never a half-made tree."""
    from claude_orchestrator.zk.team import open_existing

    open_existing(app.team.client, app.settings.team)  # ConfigError naming the teams there


def _agent(app: App, agent: str) -> str:
    """``agent`` if it names a preset or an agent of the team file (a typo would pause
    nothing and say nothing)."""
    from claude_orchestrator.conf.agents import PRESETS
    from claude_orchestrator.conf.names import require_name

    require_name("--agent", agent)
    known = sorted({*PRESETS, *app.settings.team_config.agents})
    if agent not in known:
        raise UsageError(f"--agent: '{agent}' is not an agent of this team ({', '.join(known)})")
    return agent


@click.command("pause")
@click.option("--agent", required=True, help="The agent to pause (claude, codex, …).")
@click.option("--for", "duration", required=True, help="How long: 90s, 30m, 2h.")
@click.option("--reason", default="paused by hand", show_default=True, help="Shown by ps.")
@global_options
@pass_app
def pause(app: App, agent: str, duration: str, reason: str) -> None:
    """Stop every worker running AGENT from claiming, for a while (runs under way go on)."""
    from claude_orchestrator.conf.duration import parse_duration
    from claude_orchestrator.zk.governor import Pauses

    name = _agent(app, agent)
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--for: {exc}") from None
    if seconds <= 0:
        raise UsageError("--for: the pause must last longer than 0s")
    by = app.acting_as().label
    done = Pauses(app.team.client, app.settings.team).by_hand(name, seconds, reason, by, app.now())
    app.emit(done.to_dict())


@click.command("resume")
@click.option("--agent", help="The agent to resume (default: every paused agent).")
@global_options
@pass_app
def resume(app: App, agent: str | None) -> None:
    """End a pause now, by hand or on a limit (the backoff starts again)."""
    from claude_orchestrator.zk.governor import Pauses

    name = _agent(app, agent) if agent is not None else None
    app.emit({"resumed": Pauses(app.team.client, app.settings.team).resume(name)})


@click.command("budget")
@click.option("--reset", is_flag=True, help="Start the team's spend again from zero.")
@global_options
@pass_app
def budget(app: App, reset: bool) -> None:
    """The team's budgets, what has been spent under each, and which stop claims now."""
    from claude_orchestrator.zk.spend import SpendStore

    store = SpendStore(app.team.client, app.settings.team)
    if reset:
        _existing(app)
        before, _ = store.reset(app.now())
        app.emit({"reset": True, "spent_before_usd": round(before.total_usd, 6), **_view(app)})
        return
    app.emit(_view(app))


def _view(app: App) -> dict[str, Any]:
    from claude_orchestrator.zk.spend import SpendStore, budget_view

    spend = SpendStore(app.team.client, app.settings.team).get() if app.team.exists else None
    return budget_view(app.settings.team_config, spend, app.now())


COMMANDS = [pause, resume, budget]
