"""Wiring: the stores of one team over one client, and the read path that creates nothing.

``Team(client, name)`` creates the team's tree on first use (writers: push, register,
up...). ``open_existing`` is the read-only commands' way in: it creates no node at all and
refuses a team that has no tree (ConfigError naming the teams there), or, for a health
check, answers a Team whose ``exists`` is False.

SUSPENDED / LOST: see each store; this module holds no state of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kazoo.exceptions import NoNodeError

from claude_orchestrator.errors import ConfigError
from claude_orchestrator.zk.context import ContextStore
from claude_orchestrator.zk.inbox import Inboxes
from claude_orchestrator.zk.paths import ROOT, TeamPaths
from claude_orchestrator.zk.registry import Registry
from claude_orchestrator.zk.tasks import TaskStore
from claude_orchestrator.zk.txn import retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient


class Team:
    """One team's stores on one client. ``create=False``: a read-only view; nothing is
    created, ``exists`` says whether the tree is there."""

    def __init__(self, client: KazooClient, name: str, create: bool = True) -> None:
        self.client, self.name, self.create = client, name, create
        self.tasks = TaskStore(client, name, create=create)
        self.registry: Registry = self.tasks.registry
        self.inboxes = Inboxes(client, name)
        self.context = ContextStore(client, name)
        self.exists = True
        if create:
            self.tasks.ensure_layout()
        else:
            self.exists = team_exists(client, name)


def team_exists(client: KazooClient, name: str) -> bool:
    """A team exists once its layout is complete (the counter node is made last)."""
    return retrying(client, lambda: client.exists(TeamPaths(name).counter)) is not None


def known_teams(client: KazooClient) -> list[str]:
    """The names of the teams that exist, sorted (one listing, one exists() each)."""
    try:
        names = retrying(client, lambda: client.get_children(ROOT))
    except NoNodeError:
        return []
    return sorted(n for n in names if team_exists(client, n))


def unknown_team(client: KazooClient, name: str) -> ConfigError:
    """The error for a team with no tree, naming the teams that exist."""
    known = known_teams(client)
    there = ", ".join(known) if known else "none yet"
    return ConfigError(
        f"unknown team '{name}': no such team in ZooKeeper (teams there: {there}); "
        "a team is created by its first 'push-task', 'register' or 'up'"
    )


def open_existing(client: KazooClient, name: str, missing_ok: bool = False) -> Team:
    """A read-only view of a team that creates no node, ever (its sweep included).

    An unknown team is a ConfigError naming the teams there, unless ``missing_ok``
    (a health check), which gets a view whose ``exists`` is False.
    """
    team = Team(client, name, create=False)
    if not team.exists and not missing_ok:
        raise unknown_team(client, name)
    return team
