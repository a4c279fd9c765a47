"""One transaction helper and one retry policy for every ZooKeeper step.

``Txn`` collects the operations of one state change and commits them as a
single ``multi()``; a failed check surfaces as :class:`TxnConflict` naming
the operation that lost, so callers can re-read and decide.

``retrying`` re-runs an idempotent step after ``ConnectionLoss`` (the outcome
of the lost write is unknown: each step re-reads and recognises its own
write by a client-generated token) until a deadline. SUSPENDED: the step
waits for the connection to come back, up to the deadline. LOST (session
expired): the step fails with :class:`ZkError` — whatever it held is gone.

Refusals are not retried: an ACL that refuses this identity (``NoAuth``) or a
failed authentication ends the step at once with :class:`NotAuthorisedError`,
and a ``multi()`` larger than ZooKeeper's packet limit is refused before it is
sent (:class:`SizeLimitError`; the server would drop the connection instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    ConnectionLoss,
    NoAuthError,
    NodeExistsError,
    OperationTimeoutError,
    RolledBackError,
    SessionExpiredError,
)

from claude_orchestrator.errors import NotAuthorisedError, SizeLimitError, ZkError

if TYPE_CHECKING:
    from kazoo.client import KazooClient

T = TypeVar("T")

#: bytes of one multi() request we allow (ZooKeeper's jute.maxbuffer is 1,048,575
#: for the whole packet; the rest is headroom for the packet's own framing)
MULTI_LIMIT = 1_000_000
#: framing of one operation inside a multi() (type, done flag, error code)
_OP_HEADER = 9
NOT_AUTHORISED_HINT = (
    "not authorised: the team's ACL does not admit this identity "
    "(check the team's auth: [team] auth in team.toml or CO_ZK_AUTH)"
)


class TxnConflict(Exception):
    """A multi() was rolled back because one of its operations failed."""

    def __init__(self, op: tuple[str, str], cause: Exception) -> None:
        super().__init__(f"{op[0]} {op[1]}: {type(cause).__name__}")
        self.op = op
        self.cause = cause


class Txn:
    """The operations of one state change, committed together or not at all."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self.ops: list[tuple[str, str]] = []
        self._txn: Any = client.transaction()

    def create(
        self, path: str, data: bytes = b"", ephemeral: bool = False, sequence: bool = False
    ) -> None:
        self._txn.create(path, data, ephemeral=ephemeral, sequence=sequence)
        self.ops.append(("create", path))

    def delete(self, path: str, version: int = -1) -> None:
        self._txn.delete(path, version)
        self.ops.append(("delete", path))

    def set_data(self, path: str, data: bytes, version: int) -> None:
        self._txn.set_data(path, data, version)
        self.ops.append(("set", path))

    def check(self, path: str, version: int = -1) -> None:
        """Require that ``path`` exists (and has ``version`` unless -1)."""
        self._txn.check(path, version)
        self.ops.append(("check", path))

    @property
    def size(self) -> int:
        """Encoded bytes of the request so far, as kazoo will send it."""
        return sum(len(op.serialize()) + _OP_HEADER for op in self._txn.operations) + _OP_HEADER

    def commit(self) -> list[Any]:
        if self.size > MULTI_LIMIT:
            raise SizeLimitError(
                f"one transaction would be {self.size:,} bytes; "
                f"the limit is {MULTI_LIMIT:,} bytes (ZooKeeper's packet limit)"
            )
        results: list[Any] = self._txn.commit()
        for op, res in zip(self.ops, results, strict=False):
            if isinstance(res, NoAuthError):
                raise NotAuthorisedError(f"{NOT_AUTHORISED_HINT}: refused {op[0]} {op[1]}")
            if isinstance(res, Exception) and not isinstance(res, RolledBackError):
                raise TxnConflict(op, res)
        return results


def put_versioned(client: KazooClient, path: str, data: bytes, version: int | None) -> bool:
    """Create ``path`` (``version`` None: it was not there) or set it at ``version``; False
    when another writer came first (read again and decide again)."""
    try:
        if version is None:
            client.create(path, data, makepath=True)
        else:
            client.set(path, data, version=version)
    except (NodeExistsError, BadVersionError):
        return False
    return True


def retrying(client: KazooClient, step: Callable[[], T], deadline_s: float = 20.0) -> T:
    """Run ``step``; after a connection loss wait for reconnection and run it again."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return step()
        except (NoAuthError, AuthFailedError) as exc:
            raise NotAuthorisedError(NOT_AUTHORISED_HINT) from exc
        except (ConnectionLoss, OperationTimeoutError) as exc:
            if not _wait_connected(client, deadline):
                msg = f"lost the connection to ZooKeeper and could not get it back: {exc}"
                raise ZkError(msg) from exc
        except SessionExpiredError as exc:
            raise ZkError("the ZooKeeper session expired during the operation") from exc


def _wait_connected(client: KazooClient, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if client.connected:
            return True
        time.sleep(0.02)  # production back-off while kazoo reconnects, not test sync
    return bool(client.connected)


def ensure_folders(client: KazooClient, folders: list[str]) -> None:
    """Create folders that do not exist yet (idempotent; races are harmless)."""
    for path in folders:
        if client.exists(path) is None:
            client.ensure_path(path)
