"""Wiring: the stores of one team over one client (no logic of its own).

SUSPENDED / LOST: see each store; this module holds no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claude_orchestrator.zk.context import ContextStore
from claude_orchestrator.zk.inbox import Inboxes
from claude_orchestrator.zk.registry import Registry
from claude_orchestrator.zk.tasks import TaskStore

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@dataclass
class Team:
    client: KazooClient
    name: str
    tasks: TaskStore = field(init=False)
    registry: Registry = field(init=False)
    inboxes: Inboxes = field(init=False)
    context: ContextStore = field(init=False)

    def __post_init__(self) -> None:
        self.tasks = TaskStore(self.client, self.name)
        self.registry = self.tasks.registry
        self.inboxes = Inboxes(self.client, self.name)
        self.context = ContextStore(self.client, self.name)
        self.tasks.ensure_layout()
