"""`make demo`'s git part (issue 12): examples/git runs the pipeline demo in a fresh
repository with worktree isolation — built in the workers' worktrees, committed by the
orchestrator, landed on main by the merge queue — and leaves nothing running."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from tests.helpers import run_demo

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_git_demo_lands_its_chain_on_main(tmp_path: Path) -> None:
    (tmp_path / "git").mkdir()
    (tmp_path / "pipeline").mkdir()
    for name in ("team.toml", "demo.py"):
        shutil.copy(EXAMPLES / "git" / name, tmp_path / "git" / name)
    shutil.copy(EXAMPLES / "pipeline" / "stagebot.py", tmp_path / "pipeline" / "stagebot.py")
    before = {p.pid for p in psutil.process_iter()}
    out = run_demo(tmp_path / "git" / "demo.py")
    assert "chain chain-0000000001: done, merge merged" in out.stdout
    assert "Write the greeting (chain-0000000001, round 2)" in out.stdout
    assert "main:out/HELLO.txt: HELLO, WORLD" in out.stdout
    left = [
        p for p in psutil.process_iter(["cmdline"])
        if p.pid not in before and "co-git-demo-" in " ".join(p.info["cmdline"] or ())
    ]  # fmt: skip
    assert left == []
