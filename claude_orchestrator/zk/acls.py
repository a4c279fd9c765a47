"""Which identity may do what where, the client that applies it, and the tree check.

Two digest identities (conf/credentials.py): the team's, which may do everything, and the
agents' scoped one, which may push, claim, complete, message and set context but never control
a supervisor. ZooKeeper checks CREATE and DELETE on the parent (ZOOKEEPER.md rule 10), so the
policy is set per folder, by path:

| node | team | agent |
|---|---|---|
| ``/claude-orchestrator`` (shared by teams) | world: all | world: all |
| the team root | all | read (no new children: no ``leader``, no ``control``) |
| ``control/`` and below | all | none |
| ``supervisors/``, ``election/``, ``hosts/``, ``governor/``, ``leader``, ``auth`` | all | read |
| everything else (tasks, instances, inboxes, context, ...) | all | read, write, create, delete |

The clients (zk/policyclient.py, zk/oneshot.py) give every node they create the ACL of its
path, so no caller passes ACLs.
``check_tree`` (at start-up) refuses a tree whose root or folders carry any other ACL — open
ones left from before auth, or a stranger's pre-created tree; ``fix_tree`` repairs it.

Connection states: ``check_tree`` and ``fix_tree`` run once, from one-shot callers; a
ConnectionLoss propagates to them (start-up fails; ``fix-acls`` can be run again: it is
idempotent). The client subclass holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, Permissions

from claude_orchestrator.conf.credentials import agent_credential, digest_id
from claude_orchestrator.errors import ZkError
from claude_orchestrator.zk.paths import ROOT, TeamPaths

if TYPE_CHECKING:
    from kazoo.client import KazooClient

    from claude_orchestrator.zk.client import ZkOptions

AGENT_SCOPED = Permissions.READ | Permissions.WRITE | Permissions.CREATE | Permissions.DELETE
TEAM_ONLY = ("control",)
AGENT_READS = ("supervisors", "election", "hosts", "leader", "auth", "governor")
SHOWN_NODES = 8


class AclError(ZkError):
    """The team's tree carries ACLs that are not the team's."""


class AclIds(NamedTuple):
    """Digest ids (``user:hash``) of the team's two identities."""

    team: str
    agent: str

    @classmethod
    def of_team(cls, team_credential: str) -> AclIds:
        return cls(digest_id(team_credential), digest_id(agent_credential(team_credential)))


def acl_ids(auth: str, team_id: str | None = None) -> AclIds:
    """The ids a client with credential ``auth`` works with.

    ``team_id`` is given only when ``auth`` is an agent's credential."""
    if team_id:
        return AclIds(team_id, digest_id(auth))
    return AclIds.of_team(auth)


def acl_for(ids: AclIds, path: str) -> list[ACL]:
    """The ACL a node at ``path`` must carry (see the table above)."""
    parts = path.strip("/").split("/")
    if "/" + parts[0] != ROOT:
        return [_grant(ids.team, Permissions.ALL)]
    if len(parts) == 1:
        return list(OPEN_ACL_UNSAFE)
    team = _grant(ids.team, Permissions.ALL)
    if len(parts) == 2 or parts[2] in AGENT_READS:
        return [team, _grant(ids.agent, Permissions.READ)]
    if parts[2] in TEAM_ONLY:
        return [team]
    return [team, _grant(ids.agent, AGENT_SCOPED)]


def _grant(digest: str, perms: int) -> ACL:
    return ACL(perms, Id("digest", digest))


# -- checking and repairing a tree ------------------------------------------------------------
def checked_nodes(team: str) -> list[str]:
    """The root and the folders whose ACLs decide who may do what (one read each)."""
    paths = TeamPaths(team)
    return [
        paths.root,
        *paths.folders(),
        paths.control,
        paths.supervisors,
        paths.election,
        paths.hosts,
        paths.governor,
    ]


def foreign_nodes(client: KazooClient, ids: AclIds, nodes: Sequence[str]) -> list[str]:
    """Those of ``nodes`` that exist with an ACL other than the policy's (one round trip:
    the reads are pipelined, as this runs at every worker's start)."""
    pending = [(path, client.get_acls_async(path)) for path in nodes]
    return [path for path, result in pending if _differs(result, ids, path)]


def _differs(result: Any, ids: AclIds, path: str) -> bool:
    try:
        found, _ = result.get()
    except NoNodeError:
        return False
    except NoAuthError:
        return True  # we cannot even read its ACL: not ours
    return _as_set(found) != _as_set(acl_for(ids, path))


def _as_set(acl: Sequence[ACL]) -> set[tuple[int, str, str]]:
    return {(entry.perms, entry.id.scheme, entry.id.id) for entry in acl}


def check_team_tree(client: KazooClient, team: str, opts: ZkOptions) -> None:
    """At start-up: refuse a tree that is open or not ours. Without credentials there is
    nothing to compare with; with an agent's, ACLs it may not read would look foreign."""
    if opts.auth and not opts.team_id:
        check_tree(client, team, acl_ids(opts.auth))


def check_tree(client: KazooClient, team: str, ids: AclIds) -> None:
    """Refuse a team tree whose root or folders carry an ACL other than the policy's."""
    bad = foreign_nodes(client, ids, checked_nodes(team))
    if bad:
        shown = ", ".join(bad[:SHOWN_NODES]) + (" …" if len(bad) > SHOWN_NODES else "")
        raise AclError(
            f"team '{team}' has {len(bad)} node(s) whose ACL is open or not the team's: {shown}; "
            "if this tree is yours, run 'claude-orchestrator fix-acls' to apply the team's ACLs"
        )


class FixReport:
    """What ``fix_tree`` checked, fixed and could not fix."""

    def __init__(self) -> None:
        self.checked = 0
        self.fixed = 0
        self.refused: list[str] = []

    def to_dict(self, team: str) -> dict[str, Any]:
        return {"team": team, "fixed": self.fixed, "checked": self.checked, "refused": self.refused}


def fix_tree(client: KazooClient, team: str, ids: AclIds) -> FixReport:
    """Apply the policy's ACL to every node of the team's tree (idempotent)."""
    report = FixReport()
    for path in _walk(client, TeamPaths(team).root):
        report.checked += 1
        if not _differs(client.get_acls_async(path), ids, path):
            continue
        try:
            client.set_acls(path, acl_for(ids, path))
            report.fixed += 1
        except NoNodeError:
            report.checked -= 1  # gone meanwhile (a taken message, an ephemeral node)
        except NoAuthError:
            report.refused.append(path)  # no ADMIN right on it: someone else's node
    return report


def _walk(client: KazooClient, top: str) -> Iterator[str]:
    """Every node below ``top``, parents first (a folder is fixed before its children)."""
    pending = [top]
    while pending:
        path = pending.pop()
        yield path
        try:
            children = client.get_children(path)
        except (NoNodeError, NoAuthError):
            continue
        pending.extend(f"{path}/{child}" for child in sorted(children, reverse=True))
