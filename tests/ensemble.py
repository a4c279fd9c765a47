"""A ZooKeeper ensemble on loopback, from the installed jars: for tests and bench/ (issue 10).

Each member is a ``ZkServer`` (supervisor/zkserver.py) with its own data dir, client port and
quorum/election ports, and a ``myid`` file. Ready means every member answered ``ruok`` and
reports a quorum role (``srvr``: leader or follower), not only that its port is open.
"""

from __future__ import annotations

import time
from pathlib import Path

from claude_orchestrator.errors import SpawnError
from claude_orchestrator.supervisor.zkserver import ZkServer, four_letter, free_port


class Member(ZkServer):
    """One server of an ensemble: the standalone config plus the quorum's lines."""

    main_class = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
    my_id: int = 0
    peers: str = ""  # the ``server.N=...`` lines of the whole ensemble

    def write_config(self) -> Path:
        cfg = super().write_config()
        (self.data_dir / "myid").write_text(f"{self.my_id}\n")
        with cfg.open("a") as f:
            f.write(f"initLimit=10\nsyncLimit=5\n{self.peers}")
        return cfg


class ZkEnsemble:
    def __init__(self, root: Path, size: int = 3, tick_ms: int = 500) -> None:
        ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
        peers = "".join(
            f"server.{i}=127.0.0.1:{quorum}:{election}\n"
            for i, (_, quorum, election) in enumerate(ports, start=1)
        )
        self.members: list[Member] = []
        for i, (client, _, _) in enumerate(ports, start=1):
            member = Member(root / f"zk{i}", port=client, tick_ms=tick_ms)
            member.my_id, member.peers = i, peers
            self.members.append(member)

    @property
    def hosts(self) -> str:
        """The connect string of every member."""
        return ",".join(m.hosts for m in self.members)

    def start(self, timeout: float = 60.0) -> None:
        for member in self.members:  # each waits for its own ``ruok`` only: no quorum yet
            member.start(timeout)
        self.wait_quorum(timeout)

    def wait_quorum(self, timeout: float, members: list[Member] | None = None) -> None:
        """Until every given (default: every running) member serves in the quorum."""
        waiting = members or [m for m in self.members if m.proc is not None and m.proc.alive()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.mode(m) in ("leader", "follower") for m in waiting):
                return
            time.sleep(0.05)  # polling the servers' readiness, bounded by the deadline
        raise SpawnError(f"the ensemble formed no quorum in {timeout:g}s")

    def mode(self, member: Member) -> str:
        """``leader``, ``follower``, or '' for a member not serving."""
        for line in four_letter(member.port, "srvr").splitlines():
            if line.startswith("Mode: "):
                return line.removeprefix("Mode: ").strip()
        return ""

    def leader(self) -> Member:
        for member in self.members:
            if self.mode(member) == "leader":
                return member
        raise SpawnError("the ensemble has no leader")

    def stop(self) -> None:
        for member in self.members:
            member.stop()
