"""The pool's hands: starting a worker process and signalling what it leaves.

``WorkerSpawner`` is the real one: each worker leads its own session, its
stderr goes to ``logs/<name>.log``, and its exit is posted to the supervisor's
loop the moment its ``Child`` is reaped (spawn/process.py). The pool sees only
the ``Spawner`` protocol (supervisor/pool.py), so its tests use a fake.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from claude_orchestrator.conf.team import TeamConfig, WorkerSpec
from claude_orchestrator.errors import SpawnError
from claude_orchestrator.spawn.exitstatus import ExitStatus
from claude_orchestrator.spawn.kill import kill_group, kill_session, signal_group
from claude_orchestrator.spawn.process import Child, ChildSpec
from claude_orchestrator.supervisor import events as ev
from claude_orchestrator.supervisor.exitreason import exit_reason
from claude_orchestrator.supervisor.procs import worker_argv


class WorkerSpawner:
    def __init__(
        self,
        team: TeamConfig,
        team_file: Path | None,
        env: Mapping[str, str],
        post: Callable[[ev.Event], None],
        team_name: str,
        auth: str | None = None,
        host: str = "",
    ) -> None:
        self.team = team  # replaced at reload
        self.team_file = team_file
        self.env = env
        self.post = post
        self.team_name = team_name
        self.auth = auth
        self.host = host  # given by --host / CO_HOST: the workers are that host's too
        self.hosts = ""  # set once ZooKeeper is there

    def spawn(self, spec: WorkerSpec) -> Child:
        argv = worker_argv(self.team_file, spec.name, spec.role)
        env = {
            **self.env,
            "ZK_HOSTS": self.hosts,
            "CO_TEAM": self.team_name,
            "CO_INSTANCE_ID": "",
            **({"CO_ZK_AUTH": self.auth} if self.auth else {}),  # the team's own
            **({"CO_HOST": self.host} if self.host else {}),
        }
        name = spec.name
        child_spec = ChildSpec(
            tuple(argv),
            self.team.root,
            env,
            label=name,
            output=self.log_path(name),
            new_session=True,
        )
        child = Child(child_spec, on_exit=lambda info: self.post(ev.ChildExit(name, child, info)))
        try:
            child.start()
        except SpawnError as exc:
            raise SpawnError(f"cannot start worker {name}: {exc}") from exc
        return child

    def terminate(self, pid: int) -> None:
        signal_group(pid, signal.SIGTERM)

    def kill(self, pid: int) -> None:
        kill_group(pid)

    def after_exit(self, pid: int) -> None:
        """The worker led its session; its agent has a group of its own in that session
        and outlives the worker unless killed: one quick pass, before any respawn (the
        put-back job makes sure all of it is gone before the tasks are requeued)."""
        kill_group(pid)
        kill_session(pid, wait=False)

    def exit_reason(self, name: str, status: ExitStatus) -> str:
        return exit_reason(status, self.log_path(name))

    def log_path(self, name: str) -> Path:
        """Where worker ``name``'s stderr goes (``logs/<name>.log``)."""
        return self.team.state_dir / "logs" / f"{name}.log"
