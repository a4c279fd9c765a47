"""Where clients are made: kazoo's (``connect``) for long-running owners and for commands
that watch or wait, the one-shot session (``connect_oneshot``, zk/oneshot.py) for the short
commands. Every store takes the client it is given as its first argument.

Connection states: no listener is installed here; long-running owners (the
worker, the supervisor) add one that only posts the state to their own event
queue (kazoo calls it on its session thread, where no ZooKeeper call may be
made). SUSPENDED: callers see ``ConnectionLoss`` on their next call and retry
through :func:`claude_orchestrator.zk.txn.retrying` until the deadline. LOST:
the session and every ephemeral node of it are gone; the owners re-register.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import AuthFailedError

from claude_orchestrator.errors import ZkUnavailableError

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from claude_orchestrator.zk.oneshot import OneShotClient


class ZkOptions(NamedTuple):
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
    from claude_orchestrator.zk.acls import acl_ids
    from claude_orchestrator.zk.policyclient import PolicyClient

    ids = acl_ids(opts.auth, opts.team_id)
    return PolicyClient(ids, auth_data=[("digest", opts.auth)], **common)


def connect(opts: ZkOptions) -> KazooClient:
    """Start a client, or raise ZkUnavailableError within ``connect_timeout``."""
    client = build_client(opts)
    try:
        connected = client.start_async()
        # A refused port is known at once: look after a first short wait, not at the deadline.
        if not connected.wait(min(FIRST_WAIT, opts.connect_timeout)) and all_refused(opts.hosts):
            raise ZkUnavailableError(
                f"cannot reach ZooKeeper at {opts.hosts}: connection refused"
                " (no server listens there)"
            )
        connected.wait(max(0.0, opts.connect_timeout - FIRST_WAIT))
        if not client.connected:
            raise ZkUnavailableError(
                f"cannot reach ZooKeeper at {opts.hosts} within {opts.connect_timeout:g}s"
            )
    except BaseException:  # a timeout, a refusal, or Ctrl-C: never leave the threads behind
        _quiet_close(client)
        raise
    return client


#: how long a connect waits before it checks whether every server refuses (seconds)
FIRST_WAIT = 0.3


def connect_oneshot(opts: ZkOptions) -> OneShotClient:
    """A blocking session for a short command (zk/oneshot.py): no threads, no watches.

    Same contract as :func:`connect`: ZkUnavailableError within ``connect_timeout``, at once
    when every server refuses."""
    from functools import partial

    from claude_orchestrator.errors import NotAuthorisedError
    from claude_orchestrator.zk.oneshot import OneShotClient, deadline_connect

    policy = None
    if opts.auth:
        from claude_orchestrator.zk.acls import acl_for, acl_ids

        ids = acl_ids(opts.auth, opts.team_id)
        policy = partial(acl_for, ids)
    chroot = opts.hosts.partition("/")[2]
    client = OneShotClient(
        _servers(opts.hosts),
        "/" + chroot if chroot else "",
        opts.session_timeout,
        opts.auth,
        policy,
    )
    try:
        why = deadline_connect(client, opts.connect_timeout, FIRST_WAIT)
    except AuthFailedError as exc:
        raise NotAuthorisedError("ZooKeeper refused the team's credential") from exc
    if why == "refused":
        raise ZkUnavailableError(
            f"cannot reach ZooKeeper at {opts.hosts}: connection refused (no server listens there)"
        )
    if why is not None:
        raise ZkUnavailableError(
            f"cannot reach ZooKeeper at {opts.hosts} within {opts.connect_timeout:g}s"
        )
    return client


def all_refused(hosts: str) -> bool:
    """True when every server in ``hosts`` actively refuses a TCP connection."""
    import socket

    for host, port in _servers(hosts):
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except ConnectionRefusedError:
            continue
        except OSError:  # unreachable, timing out, unresolvable: not known to be refused
            return False
        return False
    return True


def _servers(hosts: str) -> list[tuple[str, int]]:
    found = []
    for server in hosts.partition("/")[0].split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or host.endswith(":"):  # no port, or a bare IPv6 address
            host, port = server.strip(), "2181"
        found.append((host.strip("[]"), int(port) if port.isdigit() else 2181))
    return found


def disconnect(client: KazooClient | OneShotClient) -> None:
    """Stop a client cleanly: its ephemeral nodes go at once, not at session expiry."""
    _quiet_close(client)


def _quiet_close(client: KazooClient | OneShotClient) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # closing a half-started client is best effort
        pass
