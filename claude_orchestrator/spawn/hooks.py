"""Hooks (issue 13 §4; docs/governor.md): a program of the team file's ``[hooks]`` run on an
event — argv, never a shell — with the event as JSON on its stdin and ``CO_EVENT``,
``CO_TEAM``, ``CO_TASK_ID``, ``CO_WORKER``, ``CO_CHAIN_ID``, ``CO_AGENT`` in its environment
(those that apply), in a process group of its own.

``fire`` never blocks its caller: each run has a thread of its own that waits for it at most
``[hooks] timeout`` (10 s), then kills the whole group. A hook that cannot start, exits
non-zero or times out is logged, and not run again for that event.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from claude_orchestrator.conf.hooks import DEFAULT_HOOK_TIMEOUT
from claude_orchestrator.spawn.kill import kill_group

log = logging.getLogger("claude_orchestrator.hooks")

ENV_OF = {"task_id": "CO_TASK_ID", "worker": "CO_WORKER", "chain_id": "CO_CHAIN_ID"}
ENV_OF |= {"agent": "CO_AGENT", "team": "CO_TEAM"}


class Hooks:
    """The team file's hooks, fired with the environment they may see (``hidden``: the
    names of variables that hold the team credential, never passed on)."""

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        environ: Mapping[str, str],
        hidden: Collection[str] = (),
        timeout: float = DEFAULT_HOOK_TIMEOUT,
    ) -> None:
        self.commands, self.timeout = commands, timeout
        self.environ = {k: v for k, v in environ.items() if k not in hidden}

    def fire(self, event: str, data: Mapping[str, Any]) -> threading.Thread | None:
        """Run the hook of ``event`` (if the team file has one) on a thread of its own."""
        argv = self.commands.get(event)
        if not argv:
            return None
        payload = {"event": event, **data}
        env = {**self.environ, "CO_EVENT": event}
        env.update({ENV_OF[k]: str(v) for k, v in data.items() if k in ENV_OF and v is not None})
        thread = threading.Thread(
            target=run_hook, args=(list(argv), payload, env, self.timeout), daemon=True
        )
        thread.start()
        return thread


def run_hook(
    argv: list[str], payload: Mapping[str, Any], env: dict[str, str], timeout: float
) -> int | None:
    """Run one hook to its end or its timeout; its exit code (None: not started, or killed)."""
    name = payload.get("event")
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("hook %s: %r could not start: %s", name, argv[0], exc)
        return None
    data = json.dumps(payload, default=str).encode()
    try:
        _, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.communicate()
        log.warning("hook %s: %r killed after %gs", name, argv[0], timeout)
        return None
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        log.warning("hook %s: %r exited %d: %s", name, argv[0], proc.returncode, tail[0][:200])
    return proc.returncode


NO_HOOKS = Hooks({}, {})
