"""Pure functions from (team, names) to ZooKeeper paths; the node layout is
documented in docs/zookeeper.md and is an interface.

No ZooKeeper access happens here, so connection states do not apply.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote, unquote

from claude_orchestrator.zk.taskmodel import TaskStatus

ROOT = "/claude-orchestrator"

#: pending tasks whose dependencies are not all completed
WAITING = "waiting"
#: held tasks (claimed or in progress)
ACTIVE = "active"
#: the index folder of every status but pending (whose folder is the queue or ``waiting``)
FOLDER_OF: dict[TaskStatus, str] = {
    TaskStatus.CLAIMED: ACTIVE,
    TaskStatus.IN_PROGRESS: ACTIVE,
    TaskStatus.BLOCKED: TaskStatus.BLOCKED.value,
    TaskStatus.FAILED: TaskStatus.FAILED.value,
    TaskStatus.COMPLETED: TaskStatus.COMPLETED.value,
    TaskStatus.CANCELLED: TaskStatus.CANCELLED.value,
}
#: the folders named by a state, not by a queue: ``active``, ``blocked``, ... ``cancelled``
STATUS_FOLDERS = tuple(dict.fromkeys(FOLDER_OF.values()))
#: index folders holding one entry per task in that state (the queue's are made as needed)
STATE_FOLDERS = (WAITING, *STATUS_FOLDERS)


class TeamPaths(NamedTuple):
    """Every path of one team's tree."""

    team: str

    @property
    def root(self) -> str:
        return f"{ROOT}/{self.team}"

    # -- instances -------------------------------------------------------
    @property
    def instances(self) -> str:
        return f"{self.root}/instances"

    def instance(self, instance_id: str) -> str:
        return f"{self.instances}/{instance_id}"

    @property
    def names(self) -> str:
        return f"{self.root}/names"

    def name(self, name: str) -> str:
        return f"{self.names}/{name}"

    @property
    def roles(self) -> str:
        return f"{self.root}/roles"

    def role(self, role: str) -> str:
        return f"{self.roles}/{role}"

    def role_member(self, role: str, instance_id: str) -> str:
        return f"{self.role(role)}/{instance_id}"

    # -- tasks -------------------------------------------------------------
    @property
    def tasks(self) -> str:
        return f"{self.root}/tasks"

    @property
    def counter(self) -> str:
        return f"{self.tasks}/counter"

    @property
    def records(self) -> str:
        return f"{self.tasks}/records"

    def record(self, task_id: str) -> str:
        return f"{self.records}/{task_id}"

    @property
    def dependents_root(self) -> str:
        return f"{self.tasks}/dependents"

    def dependents(self, task_id: str) -> str:
        return f"{self.dependents_root}/{task_id}"

    def dependent(self, task_id: str, dependent_id: str) -> str:
        """The marker that ``dependent_id`` waits for ``task_id``."""
        return f"{self.dependents(task_id)}/{dependent_id}"

    @property
    def queue(self) -> str:
        return f"{self.tasks}/queue"

    @property
    def queue_any(self) -> str:
        return f"{self.queue}/any"

    @property
    def queue_names(self) -> str:
        return f"{self.queue}/name"

    def queue_name(self, name: str) -> str:
        return f"{self.queue_names}/{name}"

    @property
    def queue_roles(self) -> str:
        return f"{self.queue}/role"

    def queue_role(self, role: str) -> str:
        return f"{self.queue_roles}/{role}"

    def state_folder(self, folder: str) -> str:
        return f"{self.tasks}/{folder}"

    def index_folder(
        self, status: TaskStatus, ready: bool = True, assignee: str | None = None
    ) -> str:
        """The folder of a task's index entry, from its state alone: a pending task waits
        in ``waiting`` until its dependencies are done, then in its assignee's queue (by
        name, by role, or anyone's); every other status has its folder (FOLDER_OF)."""
        if status is not TaskStatus.PENDING:
            return self.state_folder(FOLDER_OF[status])
        if not ready:
            return self.state_folder(WAITING)
        if not assignee:
            return self.queue_any
        if assignee.startswith("role:"):
            return self.queue_role(assignee[5:])
        return self.queue_name(assignee)

    # -- messages and context ---------------------------------------------
    @property
    def inboxes(self) -> str:
        return f"{self.root}/inboxes"

    def inbox(self, instance_id: str) -> str:
        return f"{self.inboxes}/{instance_id}"

    def unread(self, instance_id: str) -> str:
        return f"{self.inbox(instance_id)}/unread"

    def read(self, instance_id: str) -> str:
        return f"{self.inbox(instance_id)}/read"

    def unread_message(self, instance_id: str, msg_id: str) -> str:
        """An unread message (``m-`` to create one, sequentially)."""
        return f"{self.unread(instance_id)}/{msg_id}"

    def read_message(self, instance_id: str, msg_id: str) -> str:
        return f"{self.read(instance_id)}/{msg_id}"

    @property
    def context(self) -> str:
        return f"{self.root}/context"

    def context_key(self, key: str) -> str:
        return f"{self.context}/{encode_key(key)}"

    # -- chains (zk/chains.py) ---------------------------------------------------
    @property
    def chains(self) -> str:
        return f"{self.root}/chains"

    @property
    def chain_counter(self) -> str:
        """Its version numbers the chains (a chain id is never reused)."""
        return f"{self.chains}/counter"

    @property
    def chain_records(self) -> str:
        return f"{self.chains}/records"

    def chain(self, chain_id: str) -> str:
        return f"{self.chain_records}/{chain_id}"

    @property
    def merge_queue(self) -> str:
        """Chains accepted and waiting to land, ``<chain-id>-<seq>`` (zk/merges.py)."""
        return f"{self.chains}/merges"

    def merge_entry(self, name: str) -> str:
        return f"{self.merge_queue}/{name}"

    # -- the fleet governor (zk/governor.py) ---------------------------------------
    @property
    def governor(self) -> str:
        return f"{self.root}/governor"

    @property
    def pauses(self) -> str:
        return f"{self.governor}/pauses"

    @property
    def spend(self) -> str:
        """The team's spend counter (zk/spend.py)."""
        return f"{self.governor}/spend"

    def pause(self, agent: str) -> str:
        """That agent's pause record: no worker running it claims while it holds."""
        return f"{self.pauses}/{agent}"

    # -- leadership and supervisors --------------------------------------------
    @property
    def leader(self) -> str:
        return f"{self.root}/leader"

    @property
    def election(self) -> str:
        """The supervisors' candidates for the lead (zk/election.py)."""
        return f"{self.root}/election"

    @property
    def supervisors(self) -> str:
        return f"{self.root}/supervisors"

    def supervisor(self, host: str) -> str:
        """That host's published snapshot (ephemeral)."""
        return f"{self.supervisors}/{host}"

    @property
    def hosts(self) -> str:
        """Each host's record (zk/hosts.py): its supervisor's workers, and whether lost."""
        return f"{self.root}/hosts"

    def host_record(self, host: str) -> str:
        return f"{self.hosts}/{host}"

    @property
    def control(self) -> str:
        return f"{self.root}/control"

    def control_host(self, host: str) -> str:
        """The folder of control requests to that host's supervisor, and their replies."""
        return f"{self.control}/{host}"

    def control_node(self, host: str, name: str) -> str:
        """A request (``req-NNNNNNNNNN``; ``req-`` to create one) or reply in that folder."""
        return f"{self.control_host(host)}/{name}"

    def folders(self) -> list[str]:
        """Folders that must exist before anyone watches or writes under them."""
        fixed = [self.instances, self.names, self.roles, self.tasks, self.records]
        fixed += [self.dependents_root, self.queue, self.queue_any, self.queue_names]
        fixed += [self.queue_roles, self.inboxes, self.context]
        return fixed + [self.state_folder(f) for f in STATE_FOLDERS]


def child(folder: str, name: str) -> str:
    """The path of an entry listed in ``folder`` (an index entry, a message, a host)."""
    return f"{folder}/{name}"


def control_reply(request: str) -> str:
    """The reply's name (or path) for a request's: ``req-N`` is answered by ``reply-N``."""
    head, _, seq = request.rpartition("req-")
    return f"{head}reply-{seq}"


def encode_key(key: str) -> str:
    """Encode an arbitrary context key into one legal node name.

    Percent-encoding of everything but ASCII letters, digits, '-' and '_'
    keeps '/', '.', '..' and control characters out of node names.
    """
    return quote(key, safe="").replace(".", "%2E").replace("~", "%7E")


def decode_key(name: str) -> str:
    return unquote(name)
