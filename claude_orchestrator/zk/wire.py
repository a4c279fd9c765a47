"""ZooKeeper's framing: every packet is a 4-byte big-endian length, then the packet.

Used by the one-shot client (zk/oneshot.py); kazoo's client has its own. No state here, so
connection states do not apply: a socket error propagates as ``OSError``.
"""

from __future__ import annotations

import socket
import struct

LENGTH = struct.Struct("!i")
#: a request's header: its xid and its operation type
HEADER = struct.Struct("!ii")
#: a sanity bound on one reply (a listing of a large folder may pass jute.maxbuffer's 1 MiB);
#: a longer length prefix is a broken stream, not a reply
MAX_FRAME = 256 * 1024 * 1024


def send_frame(sock: socket.socket, payload: bytes | bytearray) -> None:
    sock.sendall(LENGTH.pack(len(payload)) + bytes(payload))


def recv_frame(sock: socket.socket) -> bytes:
    (length,) = LENGTH.unpack(recv_exactly(sock, LENGTH.size))
    if not 0 <= length <= MAX_FRAME:
        raise ConnectionResetError(f"bad frame length {length}")
    return recv_exactly(sock, length)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
