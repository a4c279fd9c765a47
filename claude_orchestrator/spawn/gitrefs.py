"""Where the shared branches live (issue 12 §6; docs/git.md): the chain branches and the
target are read and moved through one small interface, so the same code works on one
repository shared by every host (``LocalRefs``) and on clones that meet at a remote
(``RemoteRefs``, ``[git] remote``).

Both move a branch only by compare-and-swap: ``git update-ref NEW OLD`` locally, ``git push
--force-with-lease=<ref>:<OLD>`` to a remote (the remote refuses when the branch is not at
OLD — another host moved it). ``tip`` reads what the last ``refresh`` fetched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from claude_orchestrator.spawn.git import GitError, git_text, no_option, run_git

PUSH_REJECTED = 1  # git push's exit code when the remote refused an update (a stale lease)


def ref_sha(repo_path: Path, ref: str) -> str | None:
    """The commit ``ref`` names, None when there is no such ref."""
    args = ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{no_option(ref)}^{{commit}}"]
    done = run_git(repo_path, args, ok=(0, 1, 128))
    out = os.fsdecode(done.stdout).strip()
    return out if done.returncode == 0 and out else None


def compare_and_swap(repo_path: Path, ref: str, new: str, old: str | None) -> bool:
    """Point ``ref`` at ``new`` if it is at ``old`` (None: if it does not exist); False when
    it is somewhere else. git locks the ref and checks the old value under the lock."""
    expected = old if old is not None else "0" * len(new)
    args = ["update-ref", "--no-deref", no_option(ref), no_option(new), expected]
    done = run_git(repo_path, args, ok=(0, 1, 128))
    if done.returncode == 0:
        return True
    if ref_sha(repo_path, ref) != old:
        return False
    raise GitError(f"git update-ref {ref} failed though it is still at {old}", args)


class Refs(Protocol):
    repo: Path  # the repository the objects are in (and, for LocalRefs, the branches)
    where: str  # for messages: the repository, or the remote

    def ref(self, branch: str) -> str: ...

    def refresh(self, *branches: str) -> None: ...

    def tip(self, branch: str) -> str | None: ...

    def swap(self, branch: str, new: str, old: str | None) -> bool: ...

    def tips(self, pattern: str) -> dict[str, str]: ...


class LocalRefs:
    """Branches of the repository itself (every host shares its path)."""

    def __init__(self, repo: Path) -> None:
        self.repo, self.where = repo, str(repo)

    def ref(self, branch: str) -> str:
        return f"refs/heads/{no_option(branch)}"

    def refresh(self, *branches: str) -> None:
        return None

    def tip(self, branch: str) -> str | None:
        return ref_sha(self.repo, self.ref(branch))

    def swap(self, branch: str, new: str, old: str | None) -> bool:
        return compare_and_swap(self.repo, self.ref(branch), new, old)

    def tips(self, pattern: str) -> dict[str, str]:
        return tips_under(self.repo, "refs/heads/", pattern)


class RemoteRefs:
    """Branches of ``remote``, fetched into ``refs/remotes/<remote>/`` and pushed by lease."""

    def __init__(self, repo: Path, remote: str) -> None:
        self.repo, self.remote = repo, no_option(remote)
        self.where = f"remote {remote}"

    def ref(self, branch: str) -> str:
        return f"refs/remotes/{self.remote}/{no_option(branch)}"

    def refresh(self, *branches: str) -> None:
        """Fetch each branch; one the remote does not have is forgotten locally."""
        for branch in branches:
            spec = f"+refs/heads/{no_option(branch)}:{self.ref(branch)}"
            done = run_git(
                self.repo, ["fetch", "--quiet", "--no-tags", self.remote, spec], ok=(0, 1, 128)
            )
            if done.returncode != 0:
                if not self._missing(branch):
                    raise GitError(f"git fetch {self.remote} {branch} failed in {self.repo}")
                run_git(self.repo, ["update-ref", "-d", self.ref(branch)])

    def _missing(self, branch: str) -> bool:
        args = ["ls-remote", "--exit-code", "--heads", self.remote, f"refs/heads/{branch}"]
        return run_git(self.repo, args, ok=(0, 2)).returncode == 2

    def tip(self, branch: str) -> str | None:
        return ref_sha(self.repo, self.ref(branch))

    def swap(self, branch: str, new: str, old: str | None) -> bool:
        ref = f"refs/heads/{no_option(branch)}"
        lease = f"--force-with-lease={ref}:{old or ''}"
        args = ["push", "--quiet", "--no-verify", lease, self.remote, f"{no_option(new)}:{ref}"]
        done = run_git(self.repo, args, ok=(0, PUSH_REJECTED))
        self.refresh(branch)
        return done.returncode == 0 and self.tip(branch) == new

    def tips(self, pattern: str) -> dict[str, str]:
        spec = f"+refs/heads/{pattern}:refs/remotes/{self.remote}/{pattern}"
        run_git(self.repo, ["fetch", "--quiet", "--no-tags", "--prune", self.remote, spec])
        return tips_under(self.repo, f"refs/remotes/{self.remote}/", pattern)


def tips_under(repo: Path, prefix: str, pattern: str) -> dict[str, str]:
    """Branch name (without ``prefix``) -> sha, for the refs ``prefix + pattern``."""
    args = ["for-each-ref", "--format=%(refname) %(objectname)", f"{prefix}{pattern}"]
    lines = git_text(repo, args).splitlines()
    pairs = (line.rsplit(" ", 1) for line in lines if " " in line)
    return {ref.removeprefix(prefix): sha for ref, sha in pairs}


def refs_for(repo: Path, remote: str | None) -> Refs:
    return RemoteRefs(repo, remote) if remote else LocalRefs(repo)
