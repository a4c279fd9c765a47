"""The kazoo client whose creates follow the team's ACL policy (zk/acls.py ``acl_for``).

Connection states: the subclass holds no state of its own; kazoo's own handling applies.
"""

from __future__ import annotations

from typing import Any

from kazoo.client import KazooClient, TransactionRequest

from claude_orchestrator.zk.acls import AclIds, acl_for


class PolicyClient(KazooClient):  # type: ignore[misc]  # kazoo is untyped
    """A KazooClient whose creates (plain, ensure_path, makepath, multi) follow ``acl_for``."""

    def __init__(self, acl_ids: AclIds, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.acl_ids = acl_ids

    def create_async(
        self, path: str, value: bytes = b"", acl: Any = None, *a: Any, **kw: Any
    ) -> Any:
        return super().create_async(path, value, acl or acl_for(self.acl_ids, path), *a, **kw)

    def transaction(self) -> TransactionRequest:
        return PolicyTransaction(self)


class PolicyTransaction(TransactionRequest):  # type: ignore[misc]  # kazoo is untyped
    def create(
        self,
        path: str,
        value: bytes = b"",
        acl: Any = None,
        ephemeral: bool = False,
        sequence: bool = False,
    ) -> None:
        acl = acl or acl_for(self.client.acl_ids, path)
        super().create(path, value, acl, ephemeral, sequence)
