"""`make demo`'s pipeline (issue 11 §10): examples/pipeline runs a real chain with no paid
agent — planned, built, revised once, verified, reviewed, accepted — and leaves nothing
running."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from tests.helpers import run_demo

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pipeline"


def test_the_pipeline_demo_ends_its_chain_done(tmp_path: Path) -> None:
    for name in ("team.toml", "stagebot.py", "demo.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    out = run_demo(tmp_path / "demo.py")
    assert "chain chain-0000000001: done" in out.stdout
    assert "greeting  round 2  passed   verify r1 revise, verify r2 pass" in out.stdout
    assert (tmp_path / "out" / "HELLO.txt").read_text().strip() == "HELLO, WORLD"
    assert not [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(tmp_path)]
