"""spawn/git.py and spawn/gitcommit.py against real repositories in temporary directories.

Each test gets a repository with one commit on ``main`` and a home of its own (no user or system
git config leaks in: the fixed identity is what orchestrator commits get unless a test sets one).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from claude_orchestrator.conf.gitconf import SECRET_PATTERNS
from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.spawn.git import GitError, Repo, ensure_worktree, git_env
from claude_orchestrator.spawn.gitchain import start_at
from claude_orchestrator.spawn.gitcommit import (
    FIXED_EMAIL,
    FIXED_NAME,
    changed_outside,
    commit_changes,
    is_secret,
    status_fingerprint,
)

TEST_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    """The tests' own git (not the code under test), with an identity for their commits."""
    done = subprocess.run(
        ["git", *TEST_IDENTITY, *args],
        cwd=cwd,
        env=git_env(),
        capture_output=True,
        check=True,
    )
    return os.fsdecode(done.stdout)


@pytest.fixture(autouse=True)
def own_git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / "README.md").write_text("hello\n")
    (path / ".gitignore").write_text("build/\n*.log\n")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


def worktree_of(repo: Path, name: str = "w1") -> Path:
    path = repo / ".claude-orchestrator" / "worktrees" / name
    ensure_worktree(Repo(repo), path, f"co/worker/{name}", "main")
    return path


def message_of(cwd: Path, rev: str = "HEAD") -> str:
    return git(cwd, "log", "-1", "--format=%B", rev)


# --- worktrees ---------------------------------------------------------------------------------


def test_worktree_created_once_then_reused(repo: Path) -> None:
    path = repo / ".claude-orchestrator" / "worktrees" / "w1"
    first = ensure_worktree(Repo(repo), path, "co/worker/w1", "main")
    listed = Repo(repo).worktrees()
    again = ensure_worktree(Repo(repo), path, "co/worker/w1", "main")
    assert first == again
    assert first.path.resolve() == path.resolve()
    assert first.branch == "co/worker/w1"
    assert first.head == Repo(repo).head_sha("main")
    assert Repo(repo).worktrees() == listed and len(listed) == 2


def test_worktree_reused_whatever_it_has_checked_out(repo: Path) -> None:
    path = worktree_of(repo)
    git(path, "checkout", "--quiet", "-b", "co/chain-1")
    info = ensure_worktree(Repo(repo), path, "co/worker/w1", "main")
    assert info.branch == "co/chain-1"


def test_worktree_on_an_existing_branch(repo: Path) -> None:
    git(repo, "branch", "co/worker/w1", "main")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "main moves on")
    info = ensure_worktree(Repo(repo), repo / "wt", "co/worker/w1", "main")
    assert info.head == Repo(repo).head_sha("co/worker/w1") != Repo(repo).head_sha("main")


def test_worktree_refuses_a_directory_in_the_way(repo: Path) -> None:
    path = repo / ".claude-orchestrator" / "worktrees" / "w1"
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine\n")
    with pytest.raises(GitError, match="not a worktree of this repository"):
        ensure_worktree(Repo(repo), path, "co/worker/w1", "main")
    assert (path / "notes.txt").read_text() == "mine\n"
    assert len(Repo(repo).worktrees()) == 1
    assert not Repo(repo).branch_exists("co/worker/w1")


def test_worktree_refuses_another_repositorys_worktree(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(repo), str(other))
    with pytest.raises(GitError, match="not a worktree"):
        ensure_worktree(Repo(repo), other, "co/worker/w1", "main")
    assert (other / "README.md").exists()


def test_worktree_fills_an_empty_directory(repo: Path) -> None:
    path = repo / "wt"
    path.mkdir()
    assert ensure_worktree(Repo(repo), path, "co/worker/w1", "main").branch == "co/worker/w1"


@pytest.mark.parametrize("emptied", [False, True])
def test_worktree_added_again_after_its_directory_was_deleted(repo: Path, emptied: bool) -> None:
    path = worktree_of(repo)
    git(path, "commit", "--quiet", "--allow-empty", "-m", "kept on the branch")
    kept = Repo(repo).head_sha("co/worker/w1")
    subprocess.run(["rm", "-rf", str(path)], check=True)
    if emptied:
        path.mkdir()
    info = ensure_worktree(Repo(repo), path, "co/worker/w1", "main")
    assert info.head == kept and (path / "README.md").exists()


def test_git_error_names_the_call_and_stderr(repo: Path) -> None:
    with pytest.raises(GitError) as caught:
        Repo(repo).head_sha("no-such-branch")
    error = caught.value
    assert isinstance(error, OrchestratorError) and error.exit_code == 1
    assert "no-such-branch" in str(error) and "exit 128" in str(error)
    assert error.stderr and error.stderr in str(error)
    assert error.argv[0] == "git"


def test_names_that_look_like_options_are_refused(repo: Path) -> None:
    with pytest.raises(GitError, match="not a usable ref"):
        Repo(repo).branch_exists("--all")


def test_callers_git_variables_do_not_redirect_git(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "init", "--quiet", str(other))
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "index"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.hooksPath'='/nowhere'")
    assert Repo(repo).root().resolve() == repo.resolve()
    (repo / "new.txt").write_text("x\n")
    assert commit_changes(repo, "add new").staged == ["new.txt"]
    assert not (tmp_path / "index").exists()


# --- commits -----------------------------------------------------------------------------------


def test_commit_changes_stages_and_commits(repo: Path) -> None:
    path = worktree_of(repo)
    (path / "README.md").write_text("changed\n")
    (path / "src" / "pkg").mkdir(parents=True)
    (path / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    git(path, "rm", "--quiet", ".gitignore")
    git(path, "commit", "--quiet", "-m", "agent removed .gitignore")
    git(path, "revert", "--no-edit", "HEAD")  # .gitignore is back
    (path / "build").mkdir()
    (path / "build" / "out.bin").write_text("ignored\n")
    (path / "run.log").write_text("ignored\n")
    result = commit_changes(path, "build: item 1")
    assert result.sha == Repo(path).head_sha("HEAD")
    assert result.staged == ["README.md", "src/pkg/mod.py"]
    assert result.refused == []
    assert git(path, "show", "--name-only", "--format=", "HEAD").split() == result.staged
    assert Repo(path).status(path) == []  # the ignored files are not even listed


def test_commit_changes_refuses_secrets(repo: Path) -> None:
    path = worktree_of(repo)
    secrets = [".env", "config/.env.local", "certs/server.pem", "id_rsa", "ID_ED25519.pub"]
    secrets += ["deploy/credentials-prod.json", ".npmrc", "app.keystore", "tls/site.key"]
    for name in secrets:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text("secret\n")
    (path / "app.py").write_text("print(1)\n")
    result = commit_changes(path, "build")
    assert result.staged == ["app.py"]
    assert result.refused == sorted(secrets)
    assert sorted(p for _, p in Repo(path).status(path)) == sorted(secrets)
    assert all(code == "??" for code, _ in Repo(path).status(path))


def test_commit_changes_unstages_secrets_the_agent_staged(repo: Path) -> None:
    path = worktree_of(repo)
    (path / ".env").write_text("TOKEN=1\n")
    (path / "ok.txt").write_text("ok\n")
    git(path, "add", ".env", "ok.txt")
    result = commit_changes(path, "build")
    assert result.staged == ["ok.txt"] and result.refused == [".env"]
    assert Repo(path).status(path) == [("??", ".env")]


def test_commit_changes_with_patterns_of_the_callers(repo: Path) -> None:
    path = worktree_of(repo)
    (path / "secrets.yml").write_text("x\n")
    (path / ".env").write_text("x\n")
    result = commit_changes(path, "build", secret_patterns=["secrets.yml"])
    assert result.staged == [".env"] and result.refused == ["secrets.yml"]


def test_commit_changes_refuses_an_embedded_repository(repo: Path) -> None:
    path = worktree_of(repo)
    git(path, "init", "--quiet", "vendor/lib")
    (path / "vendor" / "lib" / "f.txt").write_text("x\n")
    result = commit_changes(path, "build")
    assert result.sha is None and result.refused == ["vendor/lib/"]


def test_commit_changes_with_nothing_changed(repo: Path) -> None:
    path = worktree_of(repo)
    head = Repo(path).head_sha("HEAD")
    assert commit_changes(path, "nothing") == commit_changes(path, "nothing")
    assert commit_changes(path, "nothing").sha is None
    (path / ".env").write_text("x\n")  # only a refused file: still nothing to commit
    assert commit_changes(path, "nothing").sha is None
    assert Repo(path).head_sha("HEAD") == head


HOSTILE_MESSAGES = [
    "$(rm -rf /)",
    "`touch pwned`; echo $HOME",
    "it's \"quoted\" and 'single' \\ backslash",
    "--amend",
    "-m",
    "first line\n\nbody line\n# not a comment\n  indented  \n\n\n",
    "naïve café — 日本語 ✓",
    "title (chain-abc, round 2)\n\nTask-Id: t-000001",
]


@pytest.mark.parametrize("message", HOSTILE_MESSAGES)
def test_commit_message_travels_verbatim(repo: Path, message: str) -> None:
    path = worktree_of(repo)
    (path / "f.txt").write_text(message)
    sha = commit_changes(path, message).sha
    assert sha is not None
    assert message_of(path, sha) == message + "\n"
    assert not (path / "pwned").exists() and not (repo / "pwned").exists()


def test_paths_with_odd_characters_round_trip(repo: Path) -> None:
    path = worktree_of(repo)
    names = ["with space.txt", "new\nline.txt", 'quo"te.txt', "tab\there.txt", "é.txt"]
    names += ["-leading-dash", "star*.txt", ":colon", "dir with space/inner file"]
    for name in names:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(name)
    assert sorted(p for _, p in Repo(path).status(path)) == sorted(names)
    result = commit_changes(path, "odd names")
    assert result.staged == sorted(names, key=os.fsencode)
    (path / "star*.txt").unlink()
    (path / "with space.txt").write_text("changed")
    assert sorted(Repo(path).status(path)) == [(" D", "star*.txt"), (" M", "with space.txt")]


def test_fixed_identity_without_a_configured_one(repo: Path) -> None:
    path = worktree_of(repo)
    (path / "f.txt").write_text("x\n")
    commit_changes(path, "build")
    expected = f"{FIXED_NAME} <{FIXED_EMAIL}>|{FIXED_NAME} <{FIXED_EMAIL}>\n"
    assert git(path, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == expected


def test_the_repositorys_identity_is_kept(repo: Path) -> None:
    git(repo, "config", "user.name", "Repo Owner")
    git(repo, "config", "user.email", "owner@example.com")
    path = worktree_of(repo)
    (path / "f.txt").write_text("x\n")
    commit_changes(path, "build")
    assert git(path, "log", "-1", "--format=%an <%ae>") == "Repo Owner <owner@example.com>\n"


def test_hooks_never_run_for_orchestrator_commits(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    for hook in ("pre-commit", "commit-msg", "post-commit", "post-checkout"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch '{repo}/ran-{hook}'\nexit 1\n")
        (hooks / hook).chmod(0o755)
    path = worktree_of(repo)
    (path / "f.txt").write_text("x\n")
    assert commit_changes(path, "build").sha is not None
    start_at(path, "co/worker/w1", Repo(repo).head_sha("main"), "w1")
    assert sorted(p.name for p in repo.glob("ran-*")) == []


def test_commits_not_on_and_patches_not_on_after_a_cherry_pick(repo: Path) -> None:
    path = worktree_of(repo)
    shas = []
    for name in ("one", "two"):
        (path / f"{name}.txt").write_text(f"{name}\n")
        sha = commit_changes(path, name).sha
        assert sha is not None
        shas.append(sha)
    git(repo, "cherry-pick", shas[0])  # lands on main under another sha
    assert Repo(repo).commits_not_on("co/worker/w1", "main") == shas
    assert Repo(repo).patches_not_on("co/worker/w1", "main") == [shas[1]]
    git(repo, "cherry-pick", shas[1])
    assert Repo(repo).patches_not_on("co/worker/w1", "main") == []


# --- writes outside the worktree -----------------------------------------------------------------


def test_changed_outside_sees_the_main_checkout_only(repo: Path) -> None:
    (repo / "README.md").write_text("already modified before the run\n")
    state = repo / "state"
    path = worktree_of(repo)
    before = status_fingerprint(repo, exclude=[state])
    (path / "inside.txt").write_text("in the worktree: fine\n")
    state.mkdir()
    (state / "log").write_text("the orchestrator's own\n")
    assert changed_outside(repo, before, exclude=[state]) == []
    (repo / "stray.txt").write_text("outside\n")
    with (repo / "README.md").open("a") as f:
        f.write("and modified again during the run\n")
    assert changed_outside(repo, before, exclude=[state]) == ["README.md", "stray.txt"]


def test_changed_outside_sees_commits_in_the_main_checkout(repo: Path) -> None:
    before = status_fingerprint(repo)
    (repo / "committed.txt").write_text("x\n")
    git(repo, "add", "committed.txt")
    git(repo, "commit", "--quiet", "-m", "agent committed in the main checkout")
    assert changed_outside(repo, before) == ["committed.txt"]


def test_is_secret_matches_basename_and_path() -> None:
    assert is_secret("deep/dir/.env") and is_secret(".env.production")
    assert is_secret("keys/Server.PEM") and not is_secret("src/environment.py")
    assert is_secret("config/prod.yml", ["config/*.yml"]) and not is_secret("prod.yml", ["x/*"])
    assert "*.pem" in SECRET_PATTERNS


def test_git_env_keeps_transport_settings_only() -> None:
    env = git_env(
        {
            "PATH": "/bin",
            "GIT_DIR": "/elsewhere",
            "GIT_AUTHOR_NAME": "someone",
            "GIT_SSH_COMMAND": "ssh -i key",
            "GIT_SSL_CAINFO": "/ca.pem",
            "LC_ALL": "fr_FR.UTF-8",
        }
    )
    assert env["PATH"] == "/bin" and env["LC_ALL"] == "C" and env["GIT_EDITOR"] == "true"
    assert env["GIT_SSH_COMMAND"] == "ssh -i key" and env["GIT_SSL_CAINFO"] == "/ca.pem"
    assert "GIT_DIR" not in env and "GIT_AUTHOR_NAME" not in env
