"""The team's task folders, made once per process: the store asks before it writes.

The counter node is made last, as the marker that every fixed folder exists; a folder made
on demand (a new queue bucket, a task's dependents) is remembered once made. A read-only
store (``create=False``, docs/cli.md) never makes anything: a missing folder is NoNodeError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.security import OPEN_ACL_UNSAFE

from claude_orchestrator.zk.paths import ROOT, TeamPaths
from claude_orchestrator.zk.txn import ensure_folders, retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient


class Layout:
    def __init__(self, client: KazooClient, paths: TeamPaths, create: bool) -> None:
        self.client, self.paths, self.create = client, paths, create
        self.ensured: set[str] = set()

    def ensure(self) -> None:
        """Make the team's folders once; the counter node is made last, as a marker."""
        if self.paths.counter in self.ensured or not self.create:
            return
        retrying(self.client, self._ensure)
        self.ensured.update(self.paths.folders())  # made before the counter, the marker
        self.ensured.add(self.paths.counter)

    def _ensure(self) -> None:
        if self.client.exists(self.paths.counter) is None:
            self._ensure_shared_root()
            ensure_folders(self.client, self.paths.folders())
            self.client.ensure_path(self.paths.counter)

    def _ensure_shared_root(self) -> None:
        """/claude-orchestrator is shared by teams that may use different credentials:
        it stays world-open; each team's own tree carries the team's ACL."""
        if self.client.exists(ROOT) is None:
            try:
                self.client.create(ROOT, acl=OPEN_ACL_UNSAFE)
            except NodeExistsError:
                pass

    def folder(self, path: str) -> None:
        """Make ``path`` if missing; a read-only store raises NoNodeError instead."""
        if path not in self.ensured:
            retrying(self.client, lambda: self._folder(path))
            self.ensured.add(path)

    def _folder(self, path: str) -> None:
        if self.client.exists(path) is None:
            if not self.create:
                raise NoNodeError(path)
            self.client.ensure_path(path)
