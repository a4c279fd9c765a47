"""Commits made by the orchestrator, and the check that an agent wrote nothing outside its
worktree.

``commit_changes`` stages what changed inside one worktree (``.gitignore`` respected), refuses
files that look like secrets and embedded repositories, and commits with the message given,
byte for byte, fed to ``git commit -F -`` on stdin (a worktree moved to another branch has
its uncommitted work committed this way first: spawn/gitchain.py). ``status_fingerprint``
and ``changed_outside`` compare the main checkout before and after an agent's run. See
docs/git.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from claude_orchestrator.conf.gitconf import SECRET_PATTERNS
from claude_orchestrator.spawn.git import Repo, git_text, nul_fields, run_git

#: the identity of orchestrator commits in a repository that has none configured
FIXED_NAME = "claude-orchestrator"
FIXED_EMAIL = "orchestrator@localhost"
#: the trailer naming the task an orchestrator commit was made for (its item, for the merge queue)
TASK_TRAILER = "Claude-Orchestrator-Task"
#: ``-c`` settings of a commit: unattended, so never a passphrase prompt for a signature
COMMIT_CONFIG = ("commit.gpgSign=false",)


@dataclass(frozen=True)
class CommitResult:
    """The new commit (None when nothing was staged), what it holds and what was left out."""

    sha: str | None
    staged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def is_secret(path: str, patterns: Sequence[str] = SECRET_PATTERNS) -> bool:
    """Whether ``path`` (from the worktree root) or its basename matches one of ``patterns``."""
    lowered = path.lower()
    names = (lowered, PurePosixPath(lowered).name)
    return any(fnmatchcase(name, p.lower()) for p in patterns for name in names)


def commit_changes(
    worktree: Path, message: str, secret_patterns: Sequence[str] = SECRET_PATTERNS
) -> CommitResult:
    """Stage every change inside ``worktree`` but the refused ones, and commit it as ``message``.

    Refused (left in the worktree, never staged): paths matching ``secret_patterns``, also when
    the agent staged them itself, and embedded repositories (a directory with its own ``.git``).
    Ignored files are not seen. Nothing left to commit → ``sha`` None.
    """
    changed = [entry.path for entry in Repo(worktree).status(worktree)]
    refused = {p for p in changed if p.endswith("/") or is_secret(p, secret_patterns)}
    _stage(worktree, [p for p in changed if p not in refused])
    staged = _staged(worktree)
    sneaked = {p for p in staged if is_secret(p, secret_patterns)}
    if sneaked:
        _unstage(worktree, sorted(sneaked))
        staged = [p for p in staged if p not in sneaked]
        refused |= sneaked
    if not staged:
        return CommitResult(None, [], sorted(refused))
    _commit(worktree, message)
    return CommitResult(git_text(worktree, ["rev-parse", "HEAD"]), staged, sorted(refused))


def _pathspecs(paths: Iterable[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def _stage(worktree: Path, paths: list[str]) -> None:
    """``git add -A`` of exactly ``paths`` (read literally: no glob, no ``:`` magic)."""
    if paths:
        args = ["--literal-pathspecs", "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"]
        run_git(worktree, args, stdin=_pathspecs(paths))


def _staged(worktree: Path) -> list[str]:
    args = ["diff", "--cached", "--name-only", "-z", "--no-renames"]
    return nul_fields(run_git(worktree, args).stdout)


def _unstage(worktree: Path, paths: list[str]) -> None:
    args = ["--literal-pathspecs", "reset", "-q", "--pathspec-from-file=-", "--pathspec-file-nul"]
    run_git(worktree, args, stdin=_pathspecs(paths))


def _commit(worktree: Path, message: str) -> None:
    """Commit the index; the message travels on stdin, kept verbatim (no comment stripping)."""
    args = ["commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-F", "-"]
    config = (*COMMIT_CONFIG, *identity_config(worktree))
    run_git(worktree, args, stdin=message.encode("utf-8", "surrogateescape"), config=config)


def identity_config(worktree: Path) -> list[str]:
    """``-c`` settings naming FIXED_NAME / FIXED_EMAIL for whichever the repository lacks."""
    done = run_git(worktree, ["config", "-z", "--get-regexp", r"^user\.(name|email)$"], ok=(0, 1))
    have = {k for k, _, v in (f.partition("\n") for f in nul_fields(done.stdout)) if v.strip()}
    wanted = {"user.name": FIXED_NAME, "user.email": FIXED_EMAIL}
    return [f"{key}={value}" for key, value in wanted.items() if key not in have]


def wip_message(current: str, branch: str) -> str:
    return f"WIP: {current} before switching to {branch} (claude-orchestrator)"


@dataclass(frozen=True)
class Fingerprint:
    """What a checkout looks like: HEAD, and each changed file's status, mtime and size."""

    head: str | None
    entries: dict[str, tuple[str, int, int]]


def status_fingerprint(checkout: Path, exclude: Sequence[Path] = ()) -> Fingerprint:
    """The state of ``checkout`` outside its linked worktrees and the ``exclude`` directories."""
    repo = Repo(checkout)
    root = repo.root()
    skipped = _prefixes(root, [w.path for w in repo.worktrees()] + list(exclude))
    entries = {}
    for code, path in repo.status(checkout):
        if not path.startswith(skipped):
            entries[path] = (code, *_stat(root / path))
    done = run_git(checkout, ["rev-parse", "--verify", "--quiet", "HEAD"], ok=(0, 1))
    return Fingerprint(os.fsdecode(done.stdout).strip() or None, entries)


def _prefixes(root: Path, directories: Iterable[Path]) -> tuple[str, ...]:
    """``dir/`` for each directory strictly inside ``root``, as status names paths."""
    found = []
    for directory in directories:
        rel = os.path.relpath(directory.resolve(), root.resolve())
        if rel != "." and not rel.startswith(".."):
            found.append(PurePosixPath(Path(rel)).as_posix() + "/")
    return tuple(found)


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.lstat()
    except OSError:
        return (-1, -1)  # deleted
    return (st.st_mtime_ns, st.st_size)


def changed_outside(checkout: Path, before: Fingerprint, exclude: Sequence[Path] = ()) -> list[str]:
    """Files of ``checkout`` that changed since ``before`` was taken, sorted.

    Counted: a file whose status, mtime or size differs, and the files of commits made there
    meanwhile (HEAD moved). The linked worktrees and ``exclude`` are not looked at.
    """
    after = status_fingerprint(checkout, exclude)
    keys = before.entries.keys() | after.entries.keys()
    paths = {k for k in keys if before.entries.get(k) != after.entries.get(k)}
    if before.head and after.head and before.head != after.head:
        args = ["diff", "--name-only", "-z", "--no-renames", before.head, after.head, "--"]
        paths.update(nul_fields(run_git(checkout, args).stdout))
    return sorted(paths)
