"""A standalone ZooKeeper server run from the installed jars.

Used as the embedded server of a team with no ``zookeeper`` configured, and
by the test suite. Ready means a raw TCP ``ruok`` answered ``imok`` — a
client that connects as soon as the port accepts TCP can stall for seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from claude_orchestrator.conf.serverproof import MAIN_CLASS
from claude_orchestrator.conf.team import DEFAULT_ZOOKEEPER_HEAP
from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn.process import Child, ChildSpec, ExitInfo

# Four-letter words the server answers: readiness and health only. conf and cons stay off:
# they show the data dir and every client's address and session to anyone who can connect.
FOUR_LETTER_WORDS = "ruok,srvr,stat,mntr"
INSTALL_HINT = (
    "ZooKeeper is not installed: on Debian/Ubuntu run 'apt-get install zookeeper', "
    "on macOS 'brew install zookeeper', or set ZOOKEEPER_HOME"
)


def find_classpath(env: dict[str, str] | None = None) -> str:
    """The classpath of the installed ZooKeeper, or SpawnError saying how to install it."""
    env = dict(os.environ if env is None else env)
    home = env.get("ZOOKEEPER_HOME")
    candidates = [Path(home) / "lib"] if home else []
    candidates += [
        Path("/opt/homebrew/opt/zookeeper/libexec/lib"),
        Path("/usr/local/opt/zookeeper/libexec/lib"),
    ]
    for lib in candidates:
        jars = sorted(lib.glob("*.jar")) if lib.is_dir() else []
        if any(j.name.startswith("zookeeper") for j in jars):
            return os.pathsep.join(str(j) for j in jars)
    debian = Path("/usr/share/java/zookeeper.jar")
    if debian.exists():
        binding = Path("/usr/share/java/slf4j-simple.jar")
        parts = [debian] + ([binding] if binding.exists() else [])
        return os.pathsep.join(str(p) for p in parts)
    raise SpawnError(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def four_letter(port: int, word: str, timeout: float = 0.5) -> str:
    """Send a four-letter command; '' when the server does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


@dataclass
class ZkServer:
    """One standalone server on 127.0.0.1:port with its data in ``data_dir``."""

    main_class: ClassVar[str] = MAIN_CLASS  # what the JVM runs (a quorum member differs)

    data_dir: Path
    port: int = 0
    tick_ms: int = 2000
    heap: str = DEFAULT_ZOOKEEPER_HEAP  # -Xmx, [team] zookeeper_heap
    proc: Child | None = field(default=None, repr=False)
    # called (from the server's monitor thread) when a server we started exits
    on_exit: Callable[[ExitInfo], None] | None = field(default=None, repr=False)

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cfg = self.data_dir / "zoo.cfg"
        cfg.write_text(
            f"tickTime={self.tick_ms}\ndataDir={self.data_dir}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
            f"4lw.commands.whitelist={FOUR_LETTER_WORDS}\n"
            "maxClientCnxns=0\n"
        )
        return cfg

    def start(self, timeout: float = 30.0) -> None:
        if not self.port:
            self.port = free_port()
        java = shutil.which("java")
        if java is None:
            raise SpawnError("java is not installed (ZooKeeper needs a JRE)")
        cfg = self.write_config()
        argv = (
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            find_classpath(),
            self.main_class,
            str(cfg),
        )
        log = self.data_dir / "zookeeper.log"
        spec = ChildSpec(argv, Path.cwd(), dict(os.environ), output=log, new_session=True)
        self.proc = Child(spec, on_exit=self.on_exit)
        self.proc.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.proc.wait(0) if self.proc is not None else None
            if ended is not None:
                raise SpawnError(
                    f"ZooKeeper exited with {ended.returncode}; see "
                    f"{self.data_dir / 'zookeeper.log'}"
                )
            if four_letter(self.port, "ruok") == "imok":
                return
            time.sleep(0.05)  # polling a child's readiness, bounded by the deadline
        raise SpawnError(f"ZooKeeper on port {self.port} not ready after {timeout:g}s")

    def stop(self, timeout: float = 10.0) -> None:
        """TERM the server, KILL it after ``timeout``; return once it is reaped."""
        if self.proc is None or not self.proc.alive():
            return
        self.proc.stop(grace=timeout)
        self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.kill()
            self.proc.wait()
