"""Supervisor commands: up, down, restart, reload, ps, leader."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import FLAGS, global_options
from claude_orchestrator.errors import OrchestratorError, UsageError

if TYPE_CHECKING:
    from claude_orchestrator.conf.settings import Settings


def _duration(value: str, flag: str) -> float:
    from claude_orchestrator.conf.duration import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


def _flags(app: App) -> dict[str, Any]:
    return dict(app.ctx.find_root().meta.get(FLAGS, {}))


def _require_team_file(app: App) -> Settings:
    if app.settings.team_file is None:
        raise UsageError("this command needs a team file: -f team.toml (or ./team.toml here)")
    return app.settings


def _control(
    app: App,
    command: str,
    args: dict[str, Any],
    timeout: float = 15.0,
    agents: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Send one control request; with ``agents`` (worker names, () for all), the agents it
    would start are checked first, once a supervisor is known to be there."""
    from claude_orchestrator.supervisor.control import ControlClient, require_supervisor
    from claude_orchestrator.supervisor.launch import checked_agents

    require_supervisor(app.team.client, app.settings.team)  # none at all: say so at once
    if agents is not None:
        checked_agents(app.settings, agents)
    s = app.settings
    reply = ControlClient(app.team.client, s.team, s.host).request(command, args, timeout)
    if "error" in reply:
        raise OrchestratorError(str(reply["error"]))
    return reply


@click.command("up")
@click.argument("workers", nargs=-1)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; return once up.")
@click.option("--no-tui", is_flag=True, help="Print events as log lines, no dashboard.")
@click.option(
    "--wait",
    "wait_s",
    default="60s",
    show_default=True,
    help="With -d: how long to wait for the team to come up.",
)
@click.option("--supervise", is_flag=True, hidden=True)
@global_options
@pass_app
def up(
    app: App, workers: tuple[str, ...], detach: bool, no_tui: bool, wait_s: str, supervise: bool
) -> None:
    """Bring the team up: ZooKeeper, leadership, one process per worker."""
    from claude_orchestrator.cli.foreground import run_foreground
    from claude_orchestrator.supervisor.detach import detach as start_detached
    from claude_orchestrator.supervisor.launch import supervisor_config, team_auth
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid
    from claude_orchestrator.supervisor.teamview import up_again

    s = _require_team_file(app)
    running = live_supervisor_pid(s.state_dir)
    if running is not None and not supervise:
        team_auth(s)  # the same agent check as a first `up`: exit 2 before asking
        reply = _control(app, "up", {"workers": list(workers)})
        _print_up(app, up_again(s, app.team, running, reply, time.time()))
    elif detach and not supervise:
        team_auth(s)  # refuse here, with exit 2, rather than in the detached child
        args = (*_passthrough(app), "up", *workers, "--supervise")
        _print_up(app, start_detached(s, args, _duration(wait_s, "--wait")))
    else:
        run_foreground(app, supervisor_config(s, workers, True, 10.0), no_tui or supervise)


def _passthrough(app: App) -> list[str]:
    s, flags = app.settings, _flags(app)
    out = ["-f", str(s.team_file)]
    if "zookeeper" in flags:
        out += ["-z", str(flags["zookeeper"])]
    if "team" in flags:
        out += ["--team", str(flags["team"])]
    return out


def _print_up(app: App, ready: dict[str, Any]) -> None:
    from claude_orchestrator.cli.output import emit

    if app.settings.json_output:
        emit(ready)
        return
    states = ", ".join(f"{n} {st}" for n, st in sorted(ready["workers"].items())) or "no workers"
    click.echo(
        f"team '{app.settings.team}' is up (supervisor pid {ready['pid']}, "
        f"zookeeper {ready['hosts']}): {states}"
    )


def _print_reply(app: App, reply: dict[str, Any]) -> None:
    from claude_orchestrator.cli.output import emit

    if app.settings.json_output is False:
        for key, names in reply.items():
            if isinstance(names, list):
                click.echo(f"{key}: {', '.join(names) or '-'}")
        return
    emit(reply)


@click.command("down")
@click.option(
    "--timeout",
    default="10s",
    show_default=True,
    help="How long workers get to stop before they are killed.",
)
@global_options
@pass_app
def down(app: App, timeout: str) -> None:
    """Stop the workers, then the embedded ZooKeeper, then the supervisor."""
    from claude_orchestrator.supervisor.commands import check_args
    from claude_orchestrator.supervisor.down import down as stop_team

    seconds = _duration(timeout, "--timeout")
    check_args("down", {"timeout": seconds})  # the same bounds as the control command
    s = app.settings
    _print_reply(app, stop_team(s.state_dir, seconds, lambda: app.team, s.embedded))


@click.command("restart")
@click.argument("workers", nargs=-1)
@global_options
@pass_app
def restart(app: App, workers: tuple[str, ...]) -> None:
    """Restart the named workers (all when none)."""
    _need_supervisor(app)
    _print_reply(app, _control(app, "restart", {"workers": list(workers)}, agents=workers))


@click.command("reload")
@global_options
@pass_app
def reload(app: App) -> None:
    """Re-read team.toml: start added, stop removed, restart changed workers only."""
    _need_supervisor(app)
    _print_reply(app, _control(app, "reload", {}, agents=()))


def _need_supervisor(app: App) -> None:
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid

    if live_supervisor_pid(app.settings.state_dir) is None and app.settings.embedded:
        raise OrchestratorError("no supervisor is running for this team (start it with 'up')")


@click.command("ps")
@global_options
@pass_app
def ps(app: App) -> None:
    """Workers: name, role, host, state, pid, uptime, restarts, last exit, task, cost."""
    from claude_orchestrator.supervisor.teamview import never_started, team_view

    if never_started(app.settings.state_dir, app.settings.embedded):
        _print_not_running(app)
        return
    view = team_view(app.team, app.settings.team, time.time())
    if app.settings.json_output:
        from claude_orchestrator.cli.output import emit

        emit(view.json_rows())
        return
    from rich.console import Console

    from claude_orchestrator.supervisor.pstable import TeamTable

    Console().print(TeamTable(view.rows, view.now))
    for line in view.stale_lines():
        click.echo(line)


def _print_not_running(app: App) -> None:
    if app.settings.json_output:
        click.echo("[]")
    else:
        click.echo(f"team '{app.settings.team}' is not running (start it with 'up')")


@click.command("leader")
@click.option("--name", default="leader", show_default=True, help="A label for this leader.")
@click.option("--no-tui", is_flag=True, help="Print events as log lines, no dashboard.")
@global_options
@pass_app
def leader(app: App, name: str, no_tui: bool) -> None:
    """Lead the team without spawning workers: sweep orphans, show the dashboard."""
    from claude_orchestrator.cli.foreground import run_foreground
    from claude_orchestrator.supervisor.launch import supervisor_config

    run_foreground(app, supervisor_config(app.settings, (), False, 10.0), no_tui, name)


COMMANDS: list[Any] = [up, down, restart, reload, ps, leader]
