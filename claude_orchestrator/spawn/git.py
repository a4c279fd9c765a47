"""Git, run the orchestrator's way: argv only, a clean environment, one error type.

Every call goes through ``run_git``: ``git`` with an argv list (never a shell), in a given
directory, with a timeout, stdin closed or fed from a bytes value, and an environment in which
no ``GIT_*`` variable of the caller can point git at another repository, index or work tree.
Output is C-locale, unpaged; no editor and no terminal prompt can block a worker. Hooks never run
for the orchestrator's git calls (``core.hooksPath=/dev/null``): a hook is code an agent could
have written, and the checks a pipeline wants are ``[pipeline] checks``, run on purpose.

This module owns the queries on a repository (``Repo``) and the stable worktrees
(``ensure_worktree``); commits and branch switches are in ``spawn/gitcommit.py``. See docs/git.md.
Needs git 2.36 or later (``git worktree list -z``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from claude_orchestrator.errors import OrchestratorError

GIT_TIMEOUT = 60.0  # seconds; a local git call taking longer is stuck (a lock, a prompt)
STDERR_TAIL_LINES = 20
#: GIT_* variables a caller keeps: which config files apply and how to reach a remote (ssh,
#: https certificates and proxies); none of them can point git at another repository, index or
#: work tree, as GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_OBJECT_DIRECTORY, GIT_CONFIG_*
#: (but these two), GIT_CONFIG_PARAMETERS, GIT_AUTHOR_* and the rest could
KEPT_GIT_ENV = frozenset({"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_ASKPASS"})
KEPT_GIT_ENV_PREFIXES = ("GIT_SSH", "GIT_SSL_", "GIT_HTTP_", "GIT_PROXY_")
#: set on every call, whatever the caller's environment says
FIXED_ENV = {
    "LC_ALL": "C",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_MERGE_AUTOEDIT": "no",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",  # a status must not take the index lock from an agent's git
}
#: ``-c`` settings of every call: no hooks, no file-system monitor daemon (both run programs)
BASE_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false")


class GitError(OrchestratorError):
    """A git call failed, timed out or could not start; or git refused what was asked.

    ``argv`` is the call (empty when the refusal is ours), ``stderr`` its last lines.
    """

    def __init__(
        self, message: str, argv: Sequence[str] = (), stderr: str = "", returncode: int = 0
    ) -> None:
        super().__init__(message)
        self.argv = tuple(argv)
        self.stderr = stderr
        self.returncode = returncode


class GitResult(NamedTuple):
    returncode: int
    stdout: bytes


def git_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: ours) without the GIT_* variables that redirect git, plus FIXED_ENV."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if _kept(k)}
    env.update(FIXED_ENV)
    return env


def _kept(name: str) -> bool:
    if not name.startswith("GIT_"):
        return True
    return name in KEPT_GIT_ENV or name.startswith(KEPT_GIT_ENV_PREFIXES)


def run_git(
    cwd: Path,
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    ok: Collection[int] = (0,),
    config: Sequence[str] = (),
    timeout: float = GIT_TIMEOUT,
) -> GitResult:
    """Run ``git <args>`` in ``cwd``; a return code outside ``ok`` raises GitError."""
    argv = ["git", "--no-pager"]
    for setting in (*BASE_CONFIG, *config):
        argv += ["-c", setting]
    argv += args
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=git_env(),
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"{_show(args)} timed out after {timeout:g} s in {cwd}", argv) from exc
    except OSError as exc:  # git missing, or cwd gone
        raise GitError(f"{_show(args)} could not run in {cwd}: {exc}", argv) from exc
    if done.returncode not in ok:
        tail = _tail(done.stderr)
        message = f"{_show(args)} failed (exit {done.returncode}) in {cwd}: {tail}"
        raise GitError(message, argv, tail, done.returncode)
    return GitResult(done.returncode, done.stdout)


def git_text(cwd: Path, args: Sequence[str]) -> str:
    """The stripped stdout of a git call that must succeed."""
    return os.fsdecode(run_git(cwd, args).stdout).strip()


def no_option(name: str) -> str:
    """``name`` unchanged; a ref or branch starting with ``-`` would be read as an option."""
    if not name or name.startswith("-"):
        raise GitError(f"not a usable ref or branch name: {name!r}")
    return name


def _show(args: Sequence[str]) -> str:
    return shlex.join(["git", *args])  # for messages only; nothing is run through a shell


def _tail(stderr: bytes) -> str:
    lines = os.fsdecode(stderr).strip().splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:]) or "(no output on stderr)"


def nul_fields(raw: bytes) -> list[str]:
    """The NUL-terminated fields of a ``-z`` output, decoded as file names are."""
    return [os.fsdecode(f) for f in raw.split(b"\0")[:-1]] if raw else []


class StatusEntry(NamedTuple):
    """One line of ``git status --porcelain=v1``: ``XY`` and the path from the worktree root."""

    code: str
    path: str


def parse_status(raw: bytes) -> list[StatusEntry]:
    """Parse ``git status --porcelain=v1 -z``; a rename's or copy's source is skipped."""
    fields = iter(nul_fields(raw))
    entries = []
    for field in fields:
        code, path = field[:2], field[3:]
        entries.append(StatusEntry(code, path))
        if "R" in code or "C" in code:
            next(fields, None)  # -z puts the source after the destination
    return entries


@dataclass(frozen=True)
class WorktreeInfo:
    """One entry of ``git worktree list``: branch is the short name, None when detached."""

    path: Path
    branch: str | None
    head: str | None
    prunable: bool = False  # registered, but its directory is gone


def parse_worktrees(raw: bytes) -> list[WorktreeInfo]:
    """Parse ``git worktree list --porcelain -z``: records of attributes, ended by an empty one."""
    return [_worktree(record) for record in _records(nul_fields(raw)) if "worktree" in record]


def _records(fields: list[str]) -> Iterator[dict[str, str]]:
    record: dict[str, str] = {}
    for field in fields:
        if not field:
            yield record
            record = {}
            continue
        key, _, value = field.partition(" ")
        record[key] = value
    if record:
        yield record


def _worktree(record: dict[str, str]) -> WorktreeInfo:
    branch = record.get("branch")
    return WorktreeInfo(
        path=Path(record["worktree"]),
        branch=branch.removeprefix("refs/heads/") if branch else None,
        head=record.get("HEAD"),
        prunable="prunable" in record,
    )


class Repo:
    """A repository, named by any directory of its main checkout or of one of its worktrees.

    Methods that take ``worktree`` run there (default: ``path``); the others see refs and
    worktrees, which every worktree of a repository shares.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def root(self) -> Path:
        """The top level of the checkout ``path`` is in."""
        return Path(git_text(self.path, ["rev-parse", "--show-toplevel"]))

    def head_sha(self, ref: str = "HEAD") -> str:
        """The commit ``ref`` names; GitError when it names none."""
        return git_text(self.path, ["rev-parse", "--verify", f"{no_option(ref)}^{{commit}}"])

    def branch_exists(self, name: str) -> bool:
        args = ["rev-parse", "--verify", "--quiet", f"refs/heads/{no_option(name)}"]
        return run_git(self.path, args, ok=(0, 1)).returncode == 0

    def current_branch(self, worktree: Path | None = None) -> str | None:
        """The branch checked out in ``worktree``; None when its HEAD is detached."""
        args = ["symbolic-ref", "--quiet", "--short", "HEAD"]
        done = run_git(worktree or self.path, args, ok=(0, 1))
        return os.fsdecode(done.stdout).strip() or None

    def status(self, worktree: Path | None = None) -> list[StatusEntry]:
        """Every changed, staged or untracked (not ignored) file, one by one (``-uall``)."""
        args = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]
        return parse_status(run_git(worktree or self.path, args).stdout)

    def is_dirty(self, worktree: Path | None = None) -> bool:
        return bool(self.status(worktree))

    def commits_not_on(self, branch: str, target: str) -> list[str]:
        """Commits of ``branch`` that ``target`` does not contain, oldest first."""
        spec = f"{no_option(target)}..{no_option(branch)}"
        return git_text(self.path, ["rev-list", "--reverse", spec, "--"]).split()

    def patches_not_on(self, branch: str, target: str) -> list[str]:
        """Commits of ``branch`` whose change is not on ``target`` under any sha (``git cherry``).

        A commit cherry-picked or rebased onto the target counts as there; a squash of several
        commits into one does not match any of them (patch ids are per commit).
        """
        out = git_text(self.path, ["cherry", no_option(target), no_option(branch)])
        return [line[2:] for line in out.splitlines() if line.startswith("+ ")]

    def worktrees(self) -> list[WorktreeInfo]:
        """The main checkout first, then every linked worktree."""
        return parse_worktrees(run_git(self.path, ["worktree", "list", "--porcelain", "-z"]).stdout)


def ensure_worktree(repo: Repo, path: Path, branch: str, base: str) -> WorktreeInfo:
    """The worktree of ``repo`` at ``path``: reused as it is, or added once on ``branch``.

    A new worktree checks out ``branch`` (made from ``base`` when missing). An existing one is
    returned whatever it has checked out (``switch`` changes that). Anything else at ``path``
    — a file, a directory with content that is not a worktree of this repository — is a
    GitError and left untouched. Calling it again is a no-op.
    """
    target = path.absolute()
    known = {w.path.resolve(): w for w in repo.worktrees()}
    if target.exists() or target.is_symlink():
        reused = _reusable(target, known)
        if reused is not None:
            return reused
    if target.resolve() in known:  # registered, its directory deleted or emptied since
        run_git(repo.path, ["worktree", "prune"])
    _add_worktree(repo, target, branch, base)
    return _info_at(repo, target)


def _reusable(target: Path, known: dict[Path, WorktreeInfo]) -> WorktreeInfo | None:
    """The worktree at ``target`` if it is one of ours; None for an empty directory."""
    info = known.get(target.resolve())
    if info is not None and not info.prunable and _toplevel(target) == target.resolve():
        return info
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return None  # git worktree add fills an empty directory
    raise GitError(f"{target} exists and is not a worktree of this repository; left as it is")


def _toplevel(directory: Path) -> Path | None:
    done = run_git(directory, ["rev-parse", "--show-toplevel"], ok=(0, 128))
    return Path(os.fsdecode(done.stdout).strip()).resolve() if done.returncode == 0 else None


def _add_worktree(repo: Repo, target: Path, branch: str, base: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if repo.branch_exists(branch):
        args = ["worktree", "add", "--quiet", str(target), no_option(branch)]
    else:
        args = ["worktree", "add", "--quiet", "-b", no_option(branch), str(target), no_option(base)]
    run_git(repo.path, args)


def _info_at(repo: Repo, target: Path) -> WorktreeInfo:
    for info in repo.worktrees():
        if info.path.resolve() == target.resolve():
            return info
    raise GitError(f"git worktree add reported success but {target} is not listed")
