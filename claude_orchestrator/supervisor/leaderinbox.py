"""The leader's inbox, as in the seed (issue 11 §8; docs/pipelines.md).

The leading supervisor registers an instance of role ``leader``, named by ``[team] leader``
(default ``leader``), bound to its session: it exists exactly while this supervisor leads
(a new leader registers it again). A message to it (``send-message --to-name leader
--content "Build a login page"``) starts a chain exactly as ``plan`` does, and the reply —
a message back to a sending instance, and on the read message for everyone — gives the
chain id. A request for help, or a message from one of the team's workers, is a report or a
question for whoever watches: it shows on the dashboard instead (a worker is an instance
whose name the team file lists).

Runs on the supervisor's ZooKeeper lane: a ChildrenWatch on the unread folder submits a
drain (keyed: one at a time). SUSPENDED: the drain waits in its kazoo call. LOST: the
instance went with the session; the supervisor opens the inbox again when it leads again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from kazoo.recipe.watchers import ChildrenWatch

from claude_orchestrator.conf.team import TeamConfig, load_team
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.supervisor.config import SupervisorConfig
from claude_orchestrator.supervisor.events import Call, Event
from claude_orchestrator.supervisor.zklane import ZkLane
from claude_orchestrator.zk.chains import ChainStore, plan_options
from claude_orchestrator.zk.registry import Registration
from claude_orchestrator.zk.team import Team

log = logging.getLogger("claude_orchestrator.supervisor")

LEADER_ROLE = "leader"
Emit = Callable[[str, str | None, str], None]  # kind, worker, text: the loop's


class LeaderInbox:
    def __init__(
        self,
        team: Team,
        cfg: SupervisorConfig,
        lane: ZkLane,
        post: Callable[[Event], None],
        emit: Emit,
    ) -> None:
        self.team, self.cfg, self.lane, self.post, self.loop_emit = team, cfg, lane, post, emit
        self.config = cfg.team
        self.instance_id: str | None = None
        self.session: Any = None  # the session the instance was registered in

    def open(self, name: str) -> None:
        """On the lane, on taking the lead: register the leader's instance ``name`` (again,
        after a lost session) and watch its inbox."""
        session = self.team.client.client_id
        if self.instance_id is not None and session == self.session:
            return
        root, host = str(self.config.root), self.cfg.host_name
        reg = Registration(name, LEADER_ROLE, root, True, host=host)
        inst = self.team.registry.register(reg, time.time())
        self.instance_id, self.session = str(inst["id"]), session
        unread = self.team.inboxes.paths.unread(self.instance_id)
        ChildrenWatch(self.team.client, unread, self._changed)
        self.emit("leader", None, f"the leader's inbox is '{name}'")

    def _changed(self, children: list[str]) -> bool | None:
        """kazoo's thread: hand the drain to the lane; stop watching a replaced instance."""
        if self.instance_id is None or not children:
            return None
        self.lane.submit(self.drain, key="leader-inbox")
        return None

    def drain(self) -> None:
        """Take each unread message once and act on it."""
        iid = self.instance_id
        if iid is None:
            return
        for msg_id in self.team.inboxes.unread_ids(iid):
            msg = self.team.inboxes.take(iid, msg_id, iid, time.time())
            if msg is not None:
                self._handle(iid, msg)

    def _handle(self, iid: str, msg: dict[str, Any]) -> None:
        sender = str(msg.get("from") or "")
        text = str(msg.get("content") or "")
        team = self._whole_team()  # as the file says now: read once per message
        if msg.get("type") == "help" or self._from_worker(sender, team):
            self.emit("message", sender, text[:500])
            return
        try:
            opts = plan_options(team)
            store = ChainStore(self.team.client, self.team.name)
            chain, _ = store.create(self.team.tasks, text, sender, time.time(), opts)
        except OrchestratorError as exc:  # an empty or oversized goal: say so to the sender
            self._reply(iid, msg, sender, {"error": str(exc)}, f"not planned: {exc}")
            return
        note = f"planning {chain.id} for {sender}: {chain.goal[:80]}"
        self.emit("plan", None, note)
        self._reply(iid, msg, sender, {"chain_id": chain.id}, f"planning your goal as {chain.id}")

    def _whole_team(self) -> TeamConfig:
        """Every host's workers (their roles decide the stages' queues), as the file says
        now; this host's when there is no file."""
        if self.cfg.team_file is None:
            return self.config
        return load_team(self.cfg.team_file)

    def emit(self, kind: str, worker: str | None, text: str) -> None:
        """An event line, shown by the loop (this runs on the lane)."""
        self.post(Call(partial(self.loop_emit, kind, worker, text)))

    def _from_worker(self, sender: str, team: TeamConfig) -> bool:
        """Whether ``sender`` is an instance of one of the team file's workers."""
        inst = self.team.registry.find(sender) if sender and "@" not in sender else None
        if inst is None:
            return False
        return team.find_worker(str(inst.get("name"))) is not None

    def _reply(
        self, iid: str, msg: dict[str, Any], sender: str, fields: dict[str, Any], text: str
    ) -> None:
        self.team.inboxes.annotate(iid, str(msg["id"]), fields)
        if "@" in sender or not sender:
            return  # the operator has no inbox: the read message carries the reply
        try:
            self.team.inboxes.send([sender], text, iid, "reply", time.time(), fields)
        except OrchestratorError as exc:  # the sender is gone: the annotation stays
            log.info("reply to %s not sent: %s", sender, exc)
