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
    from claude_orchestrator.supervisor.teamview import TeamView


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
    app: App, command: str, names: tuple[str, ...] | None, check: bool = True
) -> dict[str, Any]:
    """Send one control request to the supervisor of each named worker's host (route.py;
    ``names`` None: a command without worker arguments, for this host's). With ``check``,
    the agents this host would start are checked first, once a supervisor is known."""
    from claude_orchestrator.supervisor.control import require_supervisor
    from claude_orchestrator.supervisor.launch import checked_agents
    from claude_orchestrator.supervisor.route import by_host, merged, send_to_hosts
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid

    s = app.settings
    require_supervisor(app.team.client, s.team)  # none at all: say so at once
    groups = by_host(s.team_config, names or (), s.host)
    if check and s.host in groups:
        checked_agents(s, tuple(groups[s.host]))
    requests = {host: {} if names is None else {"workers": ws} for host, ws in groups.items()}
    here = s.host if live_supervisor_pid(s.state_dir) is not None else None
    return merged(send_to_hosts(app.team.client, s.team, requests, command, 15.0, here))


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
    elsewhere = _placed_elsewhere(s, workers)
    if elsewhere and running is None and not supervise:
        _up_elsewhere(app, workers, elsewhere)
    elif running is not None and not supervise:
        team_auth(s)  # the same agent check as a first `up`: exit 2 before asking
        reply = _control(app, "up", workers, check=False)
        _print_up(app, up_again(s, app.team, running, reply, time.time()))
    elif detach and not supervise:
        team_auth(s)  # refuse here, with exit 2, rather than in the detached child
        args = (*_passthrough(app), "up", *workers, "--supervise")
        _print_up(app, start_detached(s, args, _duration(wait_s, "--wait")))
    else:
        run_foreground(app, supervisor_config(s, workers, True, 10.0), no_tui or supervise)


def _placed_elsewhere(s: Settings, workers: tuple[str, ...]) -> list[str]:
    """Those of ``workers`` the team file places on another host."""
    specs = [s.team_config.find_worker(name) for name in workers]
    return [spec.name for spec in specs if spec is not None and spec.host not in (None, s.host)]


def _up_elsewhere(app: App, workers: tuple[str, ...], elsewhere: list[str]) -> None:
    """``up W…`` for workers of other hosts, with no supervisor here: their supervisors
    start them; a supervisor is not started here for them."""
    here = [name for name in workers if name not in elsewhere]
    if here:
        raise UsageError(
            f"{', '.join(here)} run here and {', '.join(elsewhere)} on other hosts: bring this "
            f"host up first ('up {' '.join(here)}'), then start the others through it"
        )
    _print_reply(app, _control(app, "up", workers, check=False))


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
@click.option("--all", "all_hosts", is_flag=True, help="Stop every host's supervisor too.")
@global_options
@pass_app
def down(app: App, timeout: str, all_hosts: bool) -> None:
    """Stop this host's workers, then the embedded ZooKeeper, then the supervisor (with
    --all, every other host's supervisor and workers first)."""
    from claude_orchestrator.supervisor.commands import check_args
    from claude_orchestrator.supervisor.down import EXIT_GRACE
    from claude_orchestrator.supervisor.down import down as stop_team
    from claude_orchestrator.supervisor.route import down_elsewhere, merged

    seconds = _duration(timeout, "--timeout")
    check_args("down", {"timeout": seconds})  # the same bounds as the control command
    s = app.settings
    others = {}
    if all_hosts and not s.embedded:  # an embedded server serves this host alone
        others = down_elsewhere(app.team.client, s.team, s.host, seconds, EXIT_GRACE)
    here = stop_team(s.state_dir, seconds, lambda: app.team, s.embedded)
    reply = merged({s.host: here, **others})
    if others:
        reply["hosts"] = {s.host: here, **others}
    _print_reply(app, _with_held_work(app, reply))


@click.command("restart")
@click.argument("workers", nargs=-1)
@global_options
@pass_app
def restart(app: App, workers: tuple[str, ...]) -> None:
    """Restart the named workers, on whichever host runs each (all of this host's when
    none)."""
    _need_supervisor(app)
    _print_reply(app, _control(app, "restart", workers))


@click.command("reload")
@global_options
@pass_app
def reload(app: App) -> None:
    """Re-read team.toml: start added, stop removed, restart changed workers only."""
    _need_supervisor(app)
    _print_reply(app, _with_held_work(app, _control(app, "reload", None), only_removed=True))


def _with_held_work(app: App, reply: dict[str, Any], only_removed: bool = False) -> dict[str, Any]:
    """With worktree isolation: the worktrees kept because they hold work not on the target
    (a worktree is never removed by ``down`` or ``reload``), said on stderr too."""
    from claude_orchestrator.worker.isolation import held_work

    team = app.settings.team_config
    try:
        held = held_work(team, only_removed)
    except OrchestratorError as exc:  # git trouble never hides that the team stopped
        click.echo(f"warning: worktrees not checked: {exc}", err=True)
        return reply
    for worker, work in held.items():
        lost = f"{len(work['unlanded'])} commit(s) not on {team.git.target}"
        dirty = f"{len(work['dirty'])} uncommitted file(s)"
        click.echo(f"kept {work['path']} ({worker}): {lost}, {dirty}", err=True)
    return {**reply, "worktrees_kept": held} if held else reply


def _with_pauses(app: App, view: TeamView) -> TeamView:
    """Each worker's hold (a pause of its agent, a spent budget) as the records say now: a
    snapshot may be older than a pause that began or ended."""
    from dataclasses import replace

    from claude_orchestrator.supervisor.governorview import GovernorView, read_governor

    if not app.team.exists:
        return view
    state = read_governor(app.team.client, app.settings.team)
    rows = GovernorView(app.settings.team_config).rows(view.rows, state, time.time())
    return replace(view, rows=rows)


def _need_supervisor(app: App) -> None:
    from claude_orchestrator.supervisor.runfiles import live_supervisor_pid

    if live_supervisor_pid(app.settings.state_dir) is None and app.settings.embedded:
        raise OrchestratorError("no supervisor is running for this team (start it with 'up')")


@click.command("ps")
@global_options
@pass_app
def ps(app: App) -> None:
    """Workers of every host: name, role, host, state, pid, uptime, restarts, last exit,
    task, cost; --host H: that host's only."""
    from claude_orchestrator.supervisor.teamview import never_started, team_view

    if never_started(app.settings.state_dir, app.settings.embedded):
        _print_not_running(app)
        return
    only = _flags(app).get("host")  # given on the command line: a filter (CO_HOST is not)
    view = _with_pauses(app, team_view(app.team, app.settings.team, time.time(), only))
    if app.settings.json_output:
        from claude_orchestrator.cli.output import emit

        emit(view.json_rows())
        return
    from rich.console import Console

    from claude_orchestrator.supervisor.pstable import TeamTable

    Console().print(TeamTable(view.rows, view.now))
    for line in view.stale_lines() + view.supervisor_lines():
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
