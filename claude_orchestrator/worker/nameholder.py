"""Who holds a worker's name when a new process of it wants to register."""

from __future__ import annotations

import os

from claude_orchestrator.zk.team import Team


def running_holder(team: Team, name: str, host: str = "") -> str | None:
    """Who holds ``name`` when waiting cannot help: a live process on this host other than
    this one, or an instance registered by hand (lease-held). None for what may be an old
    session of ours that has yet to expire."""
    import socket

    from kazoo.exceptions import NoNodeError

    try:
        holder = team.client.get(team.registry.paths.name(name))[0].decode()
    except NoNodeError:
        return None
    inst = team.registry.find(holder) or {}
    if inst.get("lease_s"):  # lease-held: a 'register' by hand, never an old worker session
        return f"instance {holder}, registered by hand"
    pid = inst.get("pid")
    mine = host or socket.gethostname()
    if inst.get("host") != mine or not isinstance(pid, int) or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return f"instance {holder}, pid {pid}"
