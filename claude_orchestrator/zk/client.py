"""The one ZooKeeper client factory, and the connection-state flag.

Every component takes the client this module builds as its first argument.

Connection states: no listener is installed here; long-running owners (the
worker, the supervisor) add one that only posts the state to their own event
queue (kazoo calls it on its session thread, where no ZooKeeper call may be
made). SUSPENDED: callers see ``ConnectionLoss`` on their next call and retry
through :func:`claude_orchestrator.zk.txn.retrying` until the deadline. LOST:
the session and every ephemeral node of it are gone; the owners re-register.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import ZkUnavailableError

if TYPE_CHECKING:
    from kazoo.client import KazooClient


@dataclass(frozen=True)
class ZkOptions:
    """What a client needs to know: hosts, timeouts, and digest credentials."""

    hosts: str
    connect_timeout: float = 10.0
    session_timeout: float = 10.0
    auth: str | None = None  # "user:password"
    read_only: bool = False
    #: the team identity's digest id, given only when ``auth`` is an agent's scoped credential
    team_id: str | None = None


def build_client(opts: ZkOptions) -> KazooClient:
    """Build, but do not start, a client with bounded retries and ACLs.

    With credentials, every node the client creates gets the ACL its path calls for
    (zk/acls.py: the team's identity may do everything, the agents' only their part)."""
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    # Reconnect attempts never wait longer than a third of the session
    # timeout (kazoo's default max_delay is an hour).
    conn_retry = KazooRetry(max_tries=-1, delay=0.05, max_delay=opts.session_timeout / 3)
    common: dict[str, Any] = {
        "hosts": opts.hosts,
        "timeout": opts.session_timeout,
        "connection_retry": conn_retry,
        "read_only": opts.read_only,
    }
    if not opts.auth:
        return KazooClient(**common)
    from claude_orchestrator.zk.acls import PolicyClient, acl_ids

    ids = acl_ids(opts.auth, opts.team_id)
    return PolicyClient(ids, auth_data=[("digest", opts.auth)], **common)


def connect(opts: ZkOptions) -> KazooClient:
    """Start a client, or raise ZkUnavailableError within ``connect_timeout``."""
    client = build_client(opts)
    try:
        client.start(timeout=opts.connect_timeout)
    except Exception as exc:  # kazoo's handler-specific timeout type
        _quiet_close(client)
        raise ZkUnavailableError(
            f"cannot reach ZooKeeper at {opts.hosts} within {opts.connect_timeout:g}s"
        ) from exc
    return client


def disconnect(client: KazooClient) -> None:
    """Stop a client cleanly: its ephemeral nodes go at once, not at session expiry."""
    _quiet_close(client)


def _quiet_close(client: KazooClient) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # closing a half-started client is best effort
        pass
