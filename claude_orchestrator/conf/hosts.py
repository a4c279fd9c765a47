"""ZooKeeper connection strings: ``host[:port][,host[:port]...][/chroot]``, checked up front.

kazoo raises a bare ValueError on a malformed string only once the command tries to
connect; checking here turns that into a configuration error naming where the value came from.
"""

from __future__ import annotations

import re

from claude_orchestrator.errors import ConfigError

_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
FORMAT = "expected host:port[,host:port...][/chroot], e.g. 127.0.0.1:2181"


def check_hosts(label: str, value: str) -> str:
    """Return ``value`` when every server in it is a valid host with an optional port."""
    servers, _, chroot = value.partition("/")
    if not servers:
        raise ConfigError(f"{label}: {value!r}: no server given; {FORMAT}")
    for server in servers.split(","):
        problem = _server_problem(server.strip())
        if problem:
            raise ConfigError(f"{label}: {value!r}: {problem}; {FORMAT}")
    if chroot and any(part in ("", ".", "..") for part in chroot.rstrip("/").split("/")):
        raise ConfigError(f"{label}: {value!r}: invalid chroot '/{chroot}'; {FORMAT}")
    return value


def _server_problem(server: str) -> str | None:
    if not server:
        return "an empty server entry"
    if server.startswith("["):
        host, sep, port = server.rpartition("]:")
        host, port = (host + "]", port) if sep else (server, "")
        if not _IPV6.match(host):
            return f"invalid IPv6 address in {server!r}"
    else:
        host, _, port = server.partition(":")
        if not _HOSTNAME.match(host):
            return f"invalid host name in {server!r}"
    if port == "" and server.endswith(":"):
        return f"missing port in {server!r}"
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return f"invalid port {port!r} (expected 1-65535)"
    return None
