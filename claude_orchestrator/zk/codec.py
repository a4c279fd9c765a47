"""JSON encoding of node data, with the size limits checked before any write.

ZooKeeper drops the connection (the client sees ``ConnectionLoss``, not a
clear error) for a node over 1,048,522 bytes, so every value is measured here
first and refused with a :class:`SizeLimitError` naming the limit.
No ZooKeeper access happens here, so connection states do not apply.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from claude_orchestrator.errors import SizeLimitError, ZkError

#: hard ceiling for any node we write (ZooKeeper's jute.maxbuffer leaves 1,048,522)
NODE_LIMIT = 1_000_000

LIMITS: dict[str, int] = {
    "title": 1_024,
    "description": 256 * 1024,
    "result": 64 * 1024,
    "reason": 16 * 1024,
    "message": 256 * 1024,
    "context value": 512 * 1024,
    "task record": 900_000,
}


def check_size(what: str, text: str | None) -> None:
    """Refuse a text over its limit, naming the field, its size and the limit."""
    if text is None:
        return
    size = len(text.encode("utf-8"))
    limit = LIMITS[what]
    if size > limit:
        raise SizeLimitError(
            f"{what} is {size:,} bytes; the limit is {limit:,} bytes "
            "(keep large outputs in files and pass their path)"
        )


def encode(obj: Any, what: str = "node") -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    limit = LIMITS.get(what, NODE_LIMIT)
    if len(data) > limit:
        raise SizeLimitError(f"{what} is {len(data):,} bytes; the limit is {limit:,} bytes")
    return data


def decode(data: bytes | None, path: str = "") -> dict[str, Any]:
    if not data:
        return {}
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZkError(f"node {path} holds data that is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ZkError(f"node {path} holds JSON that is not an object")
    return obj


def iso(ts: float) -> str:
    """Seconds since the epoch → ISO 8601 UTC with microseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def token() -> str:
    """A client-generated id put into a write so a retry can recognise it."""
    return os.urandom(8).hex()
