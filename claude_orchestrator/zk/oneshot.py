"""A blocking ZooKeeper session for the short coordination commands.

``push-task``, ``claim-task``, ``complete-task`` and their kind make a handful of calls and
exit. kazoo's client is built for long-lived owners: a connection thread, a handler, watch
bookkeeping and the import of all of that, which costs more than the calls themselves
(docs/benchmarks.md, "CLI command latency"). ``OneShotClient`` speaks the same wire protocol
with kazoo's own request classes (``kazoo.protocol.serialization``), over one blocking
socket, and offers the subset of ``KazooClient``'s methods the stores use, with kazoo's
exceptions, so the zk/ stores run unchanged on either client.

What it does not do: watches (commands that wait use kazoo's client) and background pings.
A command does not sit idle long enough for the server to expire it; if it did, the next
call raises ``SessionExpiredError`` as kazoo's would.

Connection states: every call runs on the caller's thread. A socket error closes the socket
and raises ``ConnectionLoss``; ``connected`` then tries once to resume the same session
(``retrying`` in zk/txn.py polls it), so a server restart mid-command is survived as with
kazoo, and an expired session is reported as ``SessionExpiredError``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import (
    EXCEPTIONS,
    AuthFailedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.protocol.serialization import (
    Auth,
    CheckVersion,
    Close,
    Connect,
    Create,
    Delete,
    Exists,
    GetChildren,
    GetData,
    ReplyHeader,
    SetData,
    Transaction,
)
from kazoo.security import OPEN_ACL_UNSAFE

from claude_orchestrator.zk.wire import HEADER, recv_frame, send_frame

AUTH_XID = -4  # replies with a positive xid answer requests; -1 and -2 are watches and pings
EPHEMERAL, SEQUENCE = 1, 2

AclPolicy = Callable[[str], list[Any]]


class OneShotClient:
    """One session, one socket, one request at a time (or pipelined with ``*_async``)."""

    def __init__(
        self,
        servers: list[tuple[str, int]],
        chroot: str = "",
        session_timeout: float = 10.0,
        auth: str | None = None,
        acl_policy: AclPolicy | None = None,
    ) -> None:
        self.servers = servers
        self.chroot = chroot.rstrip("/")
        self.session_timeout = session_timeout
        self.auth = auth
        self.acl_policy = acl_policy
        self._sock: socket.socket | None = None
        self._session = (0, b"\x00" * 16)
        self._xid = 0
        self._replies: dict[int, tuple[int, bytes, int]] = {}
        self._last_zxid = 0
        self._expired = False

    # -- the session -------------------------------------------------------------------------
    def start(self, timeout: float) -> None:
        """Open a session on the first server that answers. When none does: OSError,
        ``ConnectionRefusedError`` only when every server refused."""
        last: OSError | None = None
        first = os.getpid() % len(self.servers)  # spread commands over an ensemble
        for server in self.servers[first:] + self.servers[:first]:
            try:
                self._open(server, timeout)
                return
            except ConnectionRefusedError as exc:
                last = last or exc
            except OSError as exc:
                last = exc if last is None or isinstance(last, ConnectionRefusedError) else last
        raise last or ConnectionRefusedError("no server given")

    def _open(self, server: tuple[str, int], timeout: float) -> None:
        host, port = server
        # an ASCII name as bytes: the resolver then needs no IDNA codec (an import per command)
        name = host.encode() if host.isascii() else host
        sock = socket.create_connection((name, port), timeout)  # type: ignore[arg-type]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session_id, passwd = self._session
            ms = int(self.session_timeout * 1000)
            send_frame(sock, Connect(0, self._last_zxid, ms, session_id, passwd, False).serialize())
            answer, _ = Connect.deserialize(recv_frame(sock), 0)
            if answer.time_out <= 0:  # the session this socket resumed is gone
                self._session, self._expired = (0, b"\x00" * 16), True
                raise SessionExpiredError()
            sock.settimeout(self.session_timeout)
            self._sock, self._session = sock, (answer.session_id, answer.passwd)
            if self.auth:
                self._authenticate()
        except BaseException:
            sock.close()
            self._sock = None
            raise

    def _authenticate(self) -> None:
        self._send(AUTH_XID, Auth(0, "digest", self.auth))
        while True:
            xid, err, _, _ = self._read_one()
            if xid == AUTH_XID:
                break
        if err:
            raise AuthFailedError()

    @property
    def connected(self) -> bool:
        """Whether the session has a socket; a lost one is resumed once per look."""
        if self._sock is None and self._session[0]:
            try:
                self.start(timeout=max(0.5, self.session_timeout / 3))
            except (OSError, SessionExpiredError, AuthFailedError):
                return False
        return self._sock is not None

    @property
    def client_id(self) -> tuple[int, bytes]:
        """The session id and password, as kazoo's ``client_id``."""
        return self._session

    @property
    def state(self) -> str:
        """kazoo's state names: CONNECTED, SUSPENDED (socket lost), LOST (session gone)."""
        if self._expired:
            return "LOST"
        return "CONNECTED" if self._sock is not None else "SUSPENDED"

    def stop(self) -> None:
        """End the session now: its ephemeral nodes go at once, not at expiry."""
        if self._sock is None:
            return
        try:
            self._sock.settimeout(1.0)
            self._call(Close())
        except Exception:  # the session ends with the socket either way
            pass
        self._drop()
        self._session = (0, b"\x00" * 16)

    def close(self) -> None:
        self._drop()

    # -- requests ----------------------------------------------------------------------------
    def exists(self, path: str, watch: None = None) -> Any:
        _no_watch(watch)
        try:
            return self._call(Exists(self._full(path), None))
        except NoNodeError:
            return None

    def get(self, path: str, watch: None = None) -> tuple[bytes, Any]:
        _no_watch(watch)
        data, stat = self._call(GetData(self._full(path), None))
        return data or b"", stat

    def get_children(self, path: str, watch: None = None) -> list[str]:
        _no_watch(watch)
        children: list[str] = self._call(GetChildren(self._full(path), None))
        return children

    def create(
        self,
        path: str,
        value: bytes = b"",
        acl: Any = None,
        ephemeral: bool = False,
        sequence: bool = False,
        makepath: bool = False,
    ) -> str:
        if makepath:
            self.ensure_path(path.rsplit("/", 1)[0] or "/")
        request = Create(
            self._full(path), value, acl or self._acl(path), _flags(ephemeral, sequence)
        )
        return self._unchroot(self._call(request))

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        return self._call(SetData(self._full(path), value, version))

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        if recursive:
            try:
                for child in self.get_children(path):
                    self.delete(f"{path.rstrip('/')}/{child}", recursive=True)
            except NoNodeError:
                return True
        try:
            self._call(Delete(self._full(path), version))
        except NoNodeError:
            if not recursive:
                raise
        return True

    def ensure_path(self, path: str, acl: Any = None) -> bool:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            node = "/" + "/".join(parts[:i])
            if self.exists(node) is None:
                try:
                    self.create(node, acl=acl)
                except NodeExistsError:
                    pass
        return True

    def transaction(self) -> OneShotTransaction:
        return OneShotTransaction(self)

    # pipelined reads: every request goes out at once, the replies are read in order
    def get_async(self, path: str) -> Pending:
        return self._submit(GetData(self._full(path), None), lambda r: (r[0] or b"", r[1]))

    def exists_async(self, path: str) -> Pending:
        return self._submit(Exists(self._full(path), None), none_if=NoNodeError)

    def get_children_async(self, path: str) -> Pending:
        return self._submit(GetChildren(self._full(path), None))

    # -- the wire ----------------------------------------------------------------------------
    def _full(self, path: str) -> str:
        if not self.chroot:
            return path
        return self.chroot if path == "/" else self.chroot + path

    def _unchroot(self, path: str) -> str:
        if self.chroot and path.startswith(self.chroot):
            return path[len(self.chroot) :] or "/"
        return path

    def _acl(self, path: str) -> list[Any]:
        return self.acl_policy(path) if self.acl_policy else list(OPEN_ACL_UNSAFE)

    def _call(self, request: Any) -> Any:
        return self._submit(request).get()

    def _submit(
        self,
        request: Any,
        shape: Callable[[Any], Any] | None = None,
        none_if: type[Exception] | None = None,
    ) -> Pending:
        self._xid += 1
        self._send(self._xid, request)
        return Pending(self, self._xid, request, shape, none_if)

    def _send(self, xid: int, request: Any) -> None:
        if self._expired:
            raise SessionExpiredError()
        if self._sock is None:
            raise ConnectionLoss()
        try:
            send_frame(self._sock, HEADER.pack(xid, request.type) + request.serialize())
        except OSError as exc:
            self._drop()
            raise ConnectionLoss() from exc

    def reply(self, xid: int) -> tuple[int, bytes, int]:
        """The error code, frame and body offset of request ``xid`` (read up to it)."""
        while xid not in self._replies:
            got, err, frame, offset = self._read_one()
            if got > 0:
                self._replies[got] = (err, frame, offset)
        return self._replies.pop(xid)

    def _read_one(self) -> tuple[int, int, bytes, int]:
        if self._sock is None:
            raise ConnectionLoss()
        try:
            frame = recv_frame(self._sock)
        except OSError as exc:
            self._drop()
            raise ConnectionLoss() from exc
        header, offset = ReplyHeader.deserialize(frame, 0)
        if header.zxid > 0:
            self._last_zxid = header.zxid
        if header.err == SessionExpiredError.code:
            self._drop()
            self._session, self._expired = (0, b"\x00" * 16), True
        return header.xid, header.err, frame, offset

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Pending:
    """A request on the wire; ``get()`` reads until its reply and returns or raises it."""

    def __init__(
        self,
        client: OneShotClient,
        xid: int,
        request: Any,
        shape: Callable[[Any], Any] | None,
        none_if: type[Exception] | None,
    ) -> None:
        self.client, self.xid, self.request = client, xid, request
        self.shape, self.none_if = shape, none_if

    def get(self, timeout: float | None = None) -> Any:
        err, frame, offset = self.client.reply(self.xid)
        if err:
            exc = EXCEPTIONS[err]()
            if self.none_if is not None and isinstance(exc, self.none_if):
                return None
            raise exc
        result = self.request.deserialize(frame, offset)
        if self.request.type == Transaction.type:
            result = [self.client._unchroot(r) if isinstance(r, str) else r for r in result]
        return self.shape(result) if self.shape else result


class OneShotTransaction:
    """kazoo's TransactionRequest, for the OneShotClient (``operations`` as kazoo keeps them)."""

    def __init__(self, client: OneShotClient) -> None:
        self.client = client
        self.operations: list[Any] = []

    def create(
        self,
        path: str,
        value: bytes = b"",
        acl: Any = None,
        ephemeral: bool = False,
        sequence: bool = False,
    ) -> None:
        flags = _flags(ephemeral, sequence)
        full = self.client._full(path)
        self.operations.append(Create(full, value, acl or self.client._acl(path), flags))

    def delete(self, path: str, version: int = -1) -> None:
        self.operations.append(Delete(self.client._full(path), version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        self.operations.append(SetData(self.client._full(path), value, version))

    def check(self, path: str, version: int) -> None:
        self.operations.append(CheckVersion(self.client._full(path), version))

    def commit(self) -> list[Any]:
        results: list[Any] = self.client._call(Transaction(self.operations))
        return results


def _no_watch(watch: object) -> None:
    if watch is not None:
        raise TypeError("the one-shot client sets no watches: use kazoo's client (zk/client.py)")


def _flags(ephemeral: bool, sequence: bool) -> int:
    return (EPHEMERAL if ephemeral else 0) | (SEQUENCE if sequence else 0)


def deadline_connect(client: OneShotClient, timeout: float, first_wait: float) -> str | None:
    """Open ``client``'s session within ``timeout``; None, or why it could not be opened
    ("refused" once every server refused past ``first_wait``, else "timeout")."""
    start = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return "timeout"
        try:
            client.start(min(left, max(0.5, client.session_timeout / 3)))
            return None
        except ConnectionRefusedError:
            if time.monotonic() - start >= first_wait:
                return "refused"
        except (OSError, SessionExpiredError):
            pass
        time.sleep(min(0.05, max(0.0, left)))  # a server that is starting: look again soon
