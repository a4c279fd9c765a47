"""README.md's shell blocks, run as a new user pastes them, so the README cannot drift.

Each fenced block without a language (or marked sh/bash/shell) is a new terminal at the root
of a fresh copy of the examples; each line is split with shlex and run as argv, never through
a shell, and must exit 0. The rules for lines a shell would treat specially:

- ``make …``, ``apt-get …`` and ``bash .ci/run`` are skipped: they install the project or run
  this very test suite;
- ``. .venv/bin/activate`` is what this test's PATH already is (the venv's bin first);
- ``cd DIR`` changes the directory for the rest of its block; ``export K=V …`` sets variables;
- a line whose comment says ``Ctrl-C`` runs in the foreground until it prints its first line,
  then gets SIGINT and must exit 0;
- redirections, pipes and ``&&`` are refused: a README line must not need a shell.

Whatever the blocks started is brought down at the end (``down`` on every example team).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SHELL_LANGUAGES = ("", "sh", "bash", "shell")
SHELL_ONLY = {"<", ">", ">>", "|", "&&", "||", ";", "&"}
LINE_TIMEOUT_S = 120.0


def shell_blocks(text: str) -> list[list[str]]:
    """The README's shell blocks, each as its lines (blank lines dropped)."""
    blocks: list[list[str]] = []
    current: list[str] | None = None  # the open shell block; None outside one
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            current = [] if fenced and line[3:].strip() in SHELL_LANGUAGES else None
            if current is not None:
                blocks.append(current)
        elif current is not None and line.strip():
            current.append(line)
    return blocks


def skipped(argv: list[str]) -> bool:
    return argv[0] in ("make", "apt-get") or argv[:2] == ["bash", ".ci/run"]


def foreground(line: str) -> bool:
    """A line the user ends with Ctrl-C (it says so in its comment)."""
    return "#" in line and "Ctrl-C" in line.rsplit("#", 1)[1]


@dataclass
class Terminal:
    """One pasted block: a directory and an environment that its lines may change."""

    root: Path
    env: dict[str, str]
    cwd: Path = field(init=False)
    ran: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cwd = self.root

    def paste(self, line: str) -> None:
        argv = shlex.split(line, comments=True)
        if not argv or skipped(argv):
            return
        refused = SHELL_ONLY.intersection(argv)
        assert not refused, f"README line needs a shell ({sorted(refused)}): {line}"
        if argv[0] == ".":
            assert argv[1:] == [".venv/bin/activate"], f"unexpected source line: {line}"
        elif argv[0] == "cd":
            self.cwd = (self.cwd / argv[1]).resolve()
        elif argv[0] == "export":
            for assignment in argv[1:]:
                key, _, value = assignment.partition("=")
                self.env[key] = value
        elif foreground(line):
            self._interrupt(argv, line)
        else:
            self._run(argv, line)

    def _run(self, argv: list[str], line: str) -> None:
        r = subprocess.run(
            argv, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=LINE_TIMEOUT_S
        )
        assert r.returncode == 0, f"{line}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}"
        self.ran.append(argv)

    def _interrupt(self, argv: list[str], line: str) -> None:
        out = self.root.parent / "foreground.out"
        with out.open("w") as sink:
            proc = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=sink, stderr=sink)
        try:
            wait_until(lambda: out.stat().st_size > 0 or proc.poll() is not None, 60, line)
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert code == 0, f"{line}\nexit {code} after Ctrl-C\n{out.read_text()}"
        self.ran.append(argv)


def user_env(home: Path) -> dict[str, str]:
    """A new user's environment: the activated venv, no orchestrator variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "ZK_"))}
    env.update(
        HOME=str(home),
        VIRTUAL_ENV=str(VENV_BIN.parent),
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def bring_down(clone: Path, env: dict[str, str]) -> None:
    """``down`` every example team whose state dir the blocks created (idempotent)."""
    for team_file in sorted(clone.glob("examples/*/team.toml")):
        if (team_file.parent / ".claude-orchestrator").exists():
            subprocess.run(
                [str(VENV_BIN / "claude-orchestrator"), "-f", str(team_file), "down"],
                cwd=clone,
                env=env,
                capture_output=True,
                timeout=LINE_TIMEOUT_S,
            )


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The README and the examples, copied as a fresh clone has them."""
    root = tmp_path / "clone"
    root.mkdir()
    shutil.copy(ROOT / "README.md", root / "README.md")
    ignore = shutil.ignore_patterns(".claude-orchestrator", "__pycache__")
    shutil.copytree(ROOT / "examples", root / "examples", ignore=ignore)
    (tmp_path / "home").mkdir()
    env = user_env(tmp_path / "home")
    try:
        yield root, env
    finally:
        bring_down(root, env)


def test_readme_shell_blocks_find_the_blocks() -> None:
    blocks = shell_blocks((ROOT / "README.md").read_text())
    lines = [ln for block in blocks for ln in block]
    assert any("up -d" in ln for ln in lines) and any("worker --name" in ln for ln in lines)
    assert not any(ln.startswith("[team]") for ln in lines)  # the toml block is not shell


def test_readme_shell_blocks_run_as_pasted(clone: tuple[Path, dict[str, str]]) -> None:
    root, env = clone
    ran = 0
    for block in shell_blocks((root / "README.md").read_text()):
        terminal = Terminal(root, dict(env))
        for line in block:
            terminal.paste(line)
        ran += len(terminal.ran)
    assert ran >= 20, f"only {ran} README lines ran"


def test_readme_terminal_follows_cd_and_export_and_skips_installers(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    term = Terminal(tmp_path, user_env(tmp_path))
    for line in ("make install   # skipped", "cd sub", "export GREETING=hi OTHER=x"):
        term.paste(line)
    check = f'{sys.executable} -c \'import os; assert os.environ["GREETING"] == "hi"\''
    term.paste(check)
    assert term.cwd == tmp_path / "sub" and len(term.ran) == 1


def test_readme_lines_that_need_a_shell_are_refused(tmp_path: Path) -> None:
    term = Terminal(tmp_path, user_env(tmp_path))
    with pytest.raises(AssertionError, match="needs a shell"):
        term.paste("corch push-task --title t --description - < spec.md")
