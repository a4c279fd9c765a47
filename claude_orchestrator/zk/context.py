"""The context store: shared key/value notes with compare-and-set.

``context/<encoded key>`` holds ``{value, updated_by, updated_at}``; the
node's version is the key's version. Keys are arbitrary strings, encoded
into one node name each (see ``paths.encode_key``).

SUSPENDED: steps are retried after reconnection. A CAS write whose outcome
was lost is recognised by its token. LOST: nothing is held here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from claude_orchestrator.errors import ConflictError, UsageError
from claude_orchestrator.zk.codec import check_size, decode, encode, iso, token
from claude_orchestrator.zk.paths import TeamPaths, decode_key
from claude_orchestrator.zk.txn import retrying

if TYPE_CHECKING:
    from kazoo.client import KazooClient

KEY_LIMIT = 512


def check_key(key: str) -> None:
    if not key:
        raise UsageError("a context key must not be empty")
    if len(key.encode("utf-8")) > KEY_LIMIT:
        raise UsageError(f"a context key is at most {KEY_LIMIT} bytes")


class ContextStore:
    def __init__(self, client: KazooClient, team: str) -> None:
        self.client = client
        self.paths = TeamPaths(team)

    def set(
        self, key: str, value: str, by: str, now: float, if_version: int | None = None
    ) -> dict[str, Any]:
        check_key(key)
        check_size("context value", value)
        doc = {"value": value, "updated_by": by, "updated_at": iso(now), "_op": token()}
        data = encode(doc, "context value")
        path = self.paths.context_key(key)

        def step() -> dict[str, Any]:
            while True:
                current = self._read(path)
                if current is not None and current[0].get("_op") == doc["_op"]:
                    return self._view(key, current[0], current[1])
                try:
                    version = self._write(path, key, data, current, if_version)
                except ConflictError:
                    if if_version is not None:
                        raise
                    continue  # a plain set lost a create/delete race: re-read, last writer wins
                return self._view(key, doc, version)

        return retrying(self.client, step)

    def _write(
        self,
        path: str,
        key: str,
        data: bytes,
        current: tuple[dict[str, Any], int] | None,
        if_version: int | None,
    ) -> int:
        if if_version is not None:
            _check_expected(key, current, if_version)
        try:
            if current is None:
                self.client.create(path, data)
                return 0
            return int(
                self.client.set(path, data, if_version if if_version is not None else -1).version
            )
        except (BadVersionError, NodeExistsError, NoNodeError) as exc:
            raise ConflictError(
                f"context key '{key}' changed meanwhile; read it and retry"
            ) from exc

    def _read(self, path: str) -> tuple[dict[str, Any], int] | None:
        try:
            data, stat = self.client.get(path)
        except NoNodeError:
            return None
        return decode(data, path), stat.version

    def _view(self, key: str, doc: dict[str, Any], version: int) -> dict[str, Any]:
        return {
            "key": key,
            "value": doc.get("value"),
            "version": version,
            "updated_by": doc.get("updated_by"),
            "updated_at": doc.get("updated_at"),
        }

    def get(self, key: str) -> dict[str, Any]:
        check_key(key)
        current = retrying(self.client, lambda: self._read(self.paths.context_key(key)))
        if current is None:
            return {"key": key, "value": None, "status": "not_found"}
        return self._view(key, *current)

    def delete(self, key: str, if_version: int | None = None) -> dict[str, Any]:
        """Delete a key (at ``if_version`` only, when given). After a lost reply, a key
        that is gone on the retry counts as deleted: an earlier attempt's delete landed."""
        check_key(key)
        attempts = [0]

        def step() -> dict[str, Any]:
            attempts[0] += 1
            try:
                self.client.delete(
                    self.paths.context_key(key), -1 if if_version is None else if_version
                )
            except NoNodeError:
                if attempts[0] > 1:
                    return {"key": key, "deleted": True}
                return {"key": key, "deleted": False, "status": "not_found"}
            except BadVersionError as exc:
                raise ConflictError(f"context key '{key}' is not at version {if_version}") from exc
            return {"key": key, "deleted": True}

        return retrying(self.client, step)

    def keys(self, prefix: str | None = None) -> list[str]:
        names = retrying(self.client, lambda: self.client.get_children(self.paths.context))
        keys = sorted(decode_key(n) for n in names)
        return [k for k in keys if prefix is None or k.startswith(prefix)]

    def watch(self, key: str, on_change: Callable[[dict[str, Any]], None]) -> None:
        """Call ``on_change`` with the key's view now and after every change.

        kazoo's DataWatch re-arms and re-reads after a reconnect, so a change
        made while disconnected is still reported (level-triggered).
        """
        from kazoo.recipe.watchers import DataWatch

        check_key(key)

        def fire(data: bytes | None, stat: Any) -> None:
            if stat is None:
                on_change({"key": key, "value": None, "status": "not_found"})
            else:
                on_change(self._view(key, decode(data), stat.version))

        DataWatch(self.client, self.paths.context_key(key), fire)


def _check_expected(key: str, current: tuple[dict[str, Any], int] | None, expected: int) -> None:
    if current is None:
        raise ConflictError(f"context key '{key}' does not exist (expected version {expected})")
    if current[1] != expected:
        raise ConflictError(
            f"context key '{key}' is at version {current[1]}, not {expected}; read it and retry"
        )
