"""Instance and configuration commands: setup, register, heartbeat, status, config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from claude_orchestrator.cli.app import App, pass_app
from claude_orchestrator.cli.options import global_options
from claude_orchestrator.errors import UsageError


def _config_path(app: App, global_: bool) -> Path:
    from claude_orchestrator.conf.layout import global_config_path, project_config_path

    if global_:
        return global_config_path()
    return project_config_path(app.settings.state_dir)


def _update_config(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    from claude_orchestrator.conf.userconfig import read_config, write_config

    data = {**read_config(path), **changes}
    data = {k: v for k, v in data.items() if v is not None}
    write_config(path, data)
    return data


@click.command("setup")
@click.option("--leader", is_flag=True, help="This checkout leads (coordinates) the team.")
@click.option("--name", help="Default instance name for 'register'.")
@click.option("--role", help="Default role for 'register'.")
@click.option("--global", "global_", is_flag=True, help="Write ~/.claude-orchestrator instead.")
@click.option(
    "--command",
    "agent_command",
    help="The command line that runs the claude agent (saved globally; a team file's "
    "[agents.claude] command wins).",
)
@click.option("--cache-dir", help="A cache directory (saved globally; shown by 'config').")
@click.option("--dry-run", is_flag=True, help="Say what setup would do; write nothing.")
@click.option(
    "--remove",
    is_flag=True,
    help="Remove the skills and the CLAUDE.md section setup installed (not the ones you "
    "changed, not the config).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace skill files and the CLAUDE.md section you changed (yours saved as .bak).",
)
@global_options
@pass_app
def setup(
    app: App,
    leader: bool,
    name: str | None,
    role: str | None,
    global_: bool,
    agent_command: str | None,
    cache_dir: str | None,
    dry_run: bool,
    remove: bool,
    force: bool,
) -> None:
    """Write the config file, the agent skills and the team section of CLAUDE.md, never
    overwriting a file you changed (no ZooKeeper needed)."""
    from claude_orchestrator.cli.skill import CLI_SKILL, managed
    from claude_orchestrator.conf.install import Installer
    from claude_orchestrator.conf.userconfig import read_config

    if remove:
        _refuse_with_remove(leader, name, role, agent_command, cache_dir, force)
    machine = _machine_settings(agent_command, cache_dir)  # checked before anything is written
    path = _config_path(app, global_)
    root = Path.home() if global_ else app.settings.team_config.root
    installer = Installer(root, managed(global_))
    steps = installer.plan_remove() if remove else installer.plan_install(force)  # refusals
    if remove:
        data = read_config(path)  # left alone
    else:
        changes = {"team": app.settings.team, "name": name, "role": role, "leader": leader or None}
        data = _configure(app, path, changes, machine, dry_run)
    installed = installer.apply(steps, dry_run)
    app.emit(
        {
            "status": "removed" if remove else "configured",
            "config": str(path),
            "skill": str(root / CLI_SKILL),
            "settings": data,
            "installed": installed,
            "dry_run": dry_run,
        }
    )


def _refuse_with_remove(
    leader: bool,
    name: str | None,
    role: str | None,
    agent_command: str | None,
    cache_dir: str | None,
    force: bool,
) -> None:
    values = {"--leader": leader, "--name": name, "--role": role, "--force": force}
    values.update({"--command": agent_command, "--cache-dir": cache_dir})
    given = [flag for flag, value in values.items() if value is not None and value is not False]
    if given:
        raise UsageError(
            f"--remove takes no {', '.join(given)}: it removes only what setup installed, "
            "never a file you changed, and leaves the config alone"
        )


def _configure(
    app: App, path: Path, changes: dict[str, Any], machine: dict[str, Any], dry_run: bool
) -> dict[str, Any]:
    data = _save_config(path, changes, dry_run)
    if machine:  # the seed's global settings (conf/machine.py says what reads them)
        saved = _save_config(_config_path(app, True), machine, dry_run)
        data.update({k: saved[k] for k in machine if k in saved})
    return data


def _save_config(path: Path, changes: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """``_update_config`` for setup: written only when it changes (a second setup rewrites
    nothing), never on a dry run."""
    from claude_orchestrator.conf.userconfig import read_config, write_config

    old = read_config(path)
    data = {k: v for k, v in {**old, **changes}.items() if v is not None}
    if data != old and not dry_run:
        write_config(path, data)
    return data


def _machine_settings(agent_command: str | None, cache_dir: str | None) -> dict[str, Any]:
    """``command`` as given (it must split into words) and ``cache_dir`` made absolute."""
    from claude_orchestrator.conf.machine import parse_command

    machine: dict[str, Any] = {}
    if agent_command is not None:
        parse_command("--command", agent_command)  # ConfigError: exit 2
        machine["command"] = agent_command
    if cache_dir is not None:
        if not cache_dir.strip():
            raise UsageError("--cache-dir: expected a directory path")
        machine["cache_dir"] = os.path.abspath(os.path.expanduser(cache_dir))
    return machine


@click.command("register")
@click.option("--name", help="Instance name (default: from setup's config).")
@click.option("--role", help="Role (default: from config, else 'worker').")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Default: current directory.")
@click.option("--lease", default="120s", show_default=True, help="Lease renewed by heartbeat.")
@global_options
@pass_app
def register(
    app: App, name: str | None, role: str | None, work_dir: str | None, lease: str
) -> None:
    """Register this shell as an instance (lease-held) and save its id in the config."""
    from claude_orchestrator.conf.duration import parse_duration
    from claude_orchestrator.conf.names import require_name
    from claude_orchestrator.conf.userconfig import read_config
    from claude_orchestrator.zk.registry import Registration

    saved = read_config(_config_path(app, False))
    name, role = name or saved.get("name"), role or saved.get("role") or "worker"
    if not name:
        raise UsageError("register needs --name (or a name saved by 'setup --name')")
    require_name("--name", name)
    require_name("--role", role)
    try:
        lease_s = parse_duration(lease)
    except ValueError as exc:
        raise UsageError(f"--lease: {exc}") from exc
    if lease_s < MIN_LEASE_S:
        raise UsageError(f"--lease: must be at least {MIN_LEASE_S:g}s, got {lease!r}")
    reg = Registration(name, role, work_dir or os.getcwd(), session_bound=False, lease_s=lease_s)
    inst = _reuse_own(app, reg) or app.team.registry.register(reg, app.now())
    _update_config(_config_path(app, False), {"instance_id": inst["id"], "team": app.settings.team})
    app.emit(inst)


#: a shorter lease would expire between two commands of a hand-driven session
MIN_LEASE_S = 1.0


def _reuse_own(app: App, reg: Any) -> dict[str, Any] | None:
    """Registering again under the name our own saved instance holds (same role, still
    alive) renews that instance instead of refusing the name as taken."""
    from kazoo.exceptions import NoNodeError

    from claude_orchestrator.zk.codec import iso
    from claude_orchestrator.zk.registry import is_alive

    iid, registry, now = app.settings.instance_id, app.team.registry, app.now()
    try:
        holder = app.team.client.get(registry.paths.name(reg.name))[0].decode()
    except NoNodeError:
        return None
    inst = registry.find(holder) if holder == iid else None
    if inst is None or inst.get("role") != reg.role or not inst.get("lease_s"):
        return None
    if not is_alive(inst, now):
        return None
    lease = {"lease_s": reg.lease_s, "lease_expires_at": iso(now + reg.lease_s)}
    return registry.heartbeat(holder, now, None, {**lease, "work_dir": reg.work_dir})


@click.command("unregister")
@global_options
@pass_app
def unregister(app: App) -> None:
    """Give back held tasks (no retry counted), leave the team, forget the saved id."""
    from claude_orchestrator.zk.recovery import release_held

    iid = app.require_instance("unregister")
    given = release_held(app.team.tasks, iid, app.now(), "unregistered", iid)
    released = [rec.id for rec in given]
    inst = app.team.registry.unregister(iid)
    _forget_instance(app, iid)
    out = {"id": iid, "instance_id": iid, "name": inst["name"], "status": "unregistered"}
    app.emit({**out, "released": released})


def _forget_instance(app: App, iid: str) -> None:
    from claude_orchestrator.conf.userconfig import read_config, write_config

    path = _config_path(app, False)
    data = read_config(path)
    if data.get("instance_id") == iid:
        del data["instance_id"]
        write_config(path, data)


@click.command("heartbeat")
@click.option("--current-task", metavar="ID", help="What this instance works on ('' clears).")
@global_options
@pass_app
def heartbeat(app: App, current_task: str | None) -> None:
    """Renew this instance's lease."""
    iid = app.require_instance("heartbeat")
    inst = app.team.registry.heartbeat(iid, app.now(), current_task)
    app.emit({**inst, "status": "ok", "instance_id": iid})


@click.command("status")
@global_options
@pass_app
def status(app: App) -> None:
    """Team health: ZooKeeper, instances, task counts, your identity, who leads.

    "degraded" when the ZooKeeper session is not connected or an instance's lease ran
    out and nobody has swept it yet (its tasks wait for recovery). A team with no tree
    yet is healthy with "team_exists": false; nothing is created."""
    from claude_orchestrator.zk.election import describe_leader, leader_record
    from claude_orchestrator.zk.governor import paused_agents
    from claude_orchestrator.zk.paths import TeamPaths
    from claude_orchestrator.zk.query import counts
    from claude_orchestrator.zk.spend import Spend, SpendStore

    team, now = app.team, app.now()
    spend = SpendStore(team.client, team.name).get() if team.exists else Spend()
    me = app.settings.instance_id
    instances = team.registry.describe_all(now) if team.exists else []
    online = [i["id"] for i in instances if i["alive"]]
    zk_state = str(team.client.state).lower()
    healthy = zk_state == "connected" and len(online) == len(instances)
    app.emit(
        {
            "status": "healthy" if healthy else "degraded",
            "team": app.settings.team,
            "team_exists": team.exists,  # False: nothing pushed or registered yet (no tree)
            "zookeeper": zk_state,
            "zookeeper_hosts": app.settings.zk_hosts,
            "connected": zk_state == "connected",
            "instances": len(instances),
            "instances_online": len(online),
            "tasks": counts(team.tasks),
            "instance_id": me,
            "registered": me in online,
            "leader": describe_leader(leader_record(team.client, TeamPaths(team.name))),
            "paused": paused_agents(team.client, team.name, now) if team.exists else [],
            "spend": spend.to_dict() | {"today_usd": round(spend.today(now), 6)},
        }
    )


@click.command("config")
@global_options
@pass_app
def config(app: App) -> None:
    """The effective configuration and where each part comes from (no ZooKeeper needed)."""
    from claude_orchestrator.conf.machine import describe_machine

    view = app.settings.as_dict()
    values, sources = describe_machine(app.settings.team_config, Path.home())
    view.update(values)
    view["sources"].update(sources)
    app.emit(view)


@click.command("list-instances")
@global_options
@pass_app
def list_instances(app: App) -> None:
    """Registered instances, with whether each is alive."""
    app.emit(app.team.registry.describe_all(app.now()))


COMMANDS: list[Any] = [setup, register, unregister, heartbeat, status, config, list_instances]
