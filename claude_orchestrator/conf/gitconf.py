"""team.toml's git isolation (issue 12; docs/git.md): ``[team] isolation`` and ``[git]``.

``isolation = "none"`` (the default) keeps today's shared work dirs; ``"worktree"`` gives each
worker a stable worktree of ``[git] repo`` (relative to the team file) under the state dir,
each chain a branch ``co/<chain-id>``, and lands accepted work on ``[git] target``.
``remote`` names the remote that hosts on other machines fetch from and push to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from claude_orchestrator.conf.schema import Section

ISOLATIONS = ("none", "worktree")
GIT_KEYS = ("target", "repo", "remote", "secrets")
#: files an orchestrator commit never stages (fnmatch, case-insensitive, on the basename and
#: on the path); ``[git] secrets`` replaces the list (docs/git.md)
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "*.p12",
    "*.pfx",
    "credentials*.json",
    ".npmrc",
    ".pypirc",
    "*.keystore",
)
DEFAULT_TARGET = "main"
#: a branch or remote name we pass to git as one argv element: no option, no revision syntax
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


class GitConfig(NamedTuple):
    isolation: str = "none"
    target: str = DEFAULT_TARGET  # the branch accepted work lands on
    repo: Path | None = None  # the repository (None: the team file's directory)
    remote: str | None = None
    secrets: tuple[str, ...] = SECRET_PATTERNS

    @property
    def worktrees(self) -> bool:
        return self.isolation == "worktree"


DEFAULT_GIT = GitConfig()


def read_git(top: Section, team: Section, root: Path) -> GitConfig:
    """``[team] isolation`` and the ``[git]`` table, every key checked."""
    isolation = team.choice("isolation", ISOLATIONS, "none")
    table = top.table("git", GIT_KEYS)
    repo = table.optional_string("repo")
    return GitConfig(
        isolation=isolation,
        target=_ref(table, "target", DEFAULT_TARGET),
        repo=(root / repo).resolve() if repo is not None else None,
        remote=_ref(table, "remote", None) if table.optional_string("remote") else None,
        secrets=_secrets(table),
    )


def _secrets(table: Section) -> tuple[str, ...]:
    if "secrets" not in table.data:
        return SECRET_PATTERNS
    patterns = table.strings("secrets")
    if any(not p.strip() for p in patterns):
        raise table.error("secrets", "a pattern is empty")
    return patterns


def _ref(table: Section, key: str, default: str | None) -> str:
    value = table.optional_string(key)
    if value is None:
        return str(default)
    bad = value.endswith((".", "/", ".lock")) or ".." in value or "//" in value
    if not _REF.fullmatch(value) or bad:
        raise table.error(
            key,
            f"{value!r} is not a branch or remote name git takes as is (letters, digits, "
            "'.', '_', '/', '-'; not starting with '-')",
        )
    return value
