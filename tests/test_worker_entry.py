"""The worker's lean entry (cli/workerentry.py): what it loads, and that it answers as the
click command does.

The supervisor starts each worker as ``[-f FILE] worker --name NAME [--role ROLE]``; that
argv runs without click and without what an idle worker never uses (docs/benchmarks.md,
"Worker footprint"). The time and memory themselves are measured in bench/, never here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.exceptions import NoNodeError

from claude_orchestrator.cli.workerentry import LeanArgs, lean_args
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from tests.clihelp import BIN, Cli

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"
AUTH = "entry:secret"
#: an idle worker has no use for these: the click app, TLS, process tables, rich
NEVER = ("click", "ssl", "_ssl", "psutil", "rich", "claude_orchestrator.cli.group")


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["-f", "t.toml", "worker", "--name", "w1"], LeanArgs("t.toml", "w1", None)),
        (["worker", "--name", "w1", "--role", "r"], LeanArgs(None, "w1", "r")),
        (["worker", "--role", "r", "--name", "w1"], LeanArgs(None, "w1", "r")),
        (["worker", "--name=w1"], None),  # another spelling: click's
        (["worker", "--name", "w1", "--grace", "5s"], None),
        (["worker", "--name", "w1", "--name", "w2"], None),
        (["worker", "--name", "w1", "-h"], None),
        (["worker", "--help"], None),
        (["worker", "--role", "r"], None),  # --name missing: click says so
        (["worker", "--name", "-x"], None),
        (["worker", "--name", ""], None),
        (["worker", "--name", "bad\udcff"], None),  # not UTF-8: click's check says so
        (["--file", "t.toml", "worker", "--name", "w1"], None),
        (["-f", "t.toml", "push-task", "--title", "worker"], None),
        (["worker", "--name", "w1", "extra"], None),
    ],
)
def test_only_the_supervisors_argv_takes_the_lean_way(
    argv: list[str], parsed: LeanArgs | None
) -> None:
    assert lean_args(argv, {}) == parsed


def test_the_supervisors_own_argv_takes_it() -> None:
    """If worker_argv ever grows a flag, this says the lean way no longer applies."""
    from claude_orchestrator.supervisor.procs import cli_argv, worker_argv

    skip = len(cli_argv())
    with_file = worker_argv(Path("/t/team.toml"), "w1")[skip:]
    without = worker_argv(None, "w1", "builder")[skip:]
    assert lean_args(with_file, {}) == LeanArgs("/t/team.toml", "w1", None)
    assert lean_args(without, {}) == LeanArgs(None, "w1", "builder")


def test_shell_completion_is_left_to_click() -> None:
    argv = ["worker", "--name", "w1"]
    assert lean_args(argv, {"_CLAUDE_ORCHESTRATOR_COMPLETE": "bash_complete"}) is None


def _in_a_lean_process(code: str) -> str:
    """Run ``code`` in a new interpreter after the lean entry's ``lighten()``."""
    prelude = "from claude_orchestrator.cli.workerentry import lighten; lighten()\n"
    p = subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return p.stdout.strip()


def test_the_builtin_digests_are_the_ones_openssl_gives() -> None:
    """The team's ACL ids and the agents' derived credential are the same either way."""
    from claude_orchestrator.conf.credentials import agent_credential, digest_id

    lean = _in_a_lean_process(
        "import sys\n"
        "from claude_orchestrator.conf.credentials import agent_credential, digest_id\n"
        "assert sys.modules['_hashlib'] is None\n"
        "print(digest_id('team:pw'), agent_credential('team:pw'))\n"
    )
    assert lean == f"{digest_id('team:pw')} {agent_credential('team:pw')}"


def test_ssl_loads_when_kazoo_first_names_it() -> None:
    """kazoo names ``ssl.SSLError`` only when a socket call fails: the real module then."""
    out = _in_a_lean_process(
        textwrap.dedent(
            """
            import sys
            from kazoo.handlers import utils
            assert type(sys.modules["ssl"]).__name__ == "_Deferred"
            try:
                raise OSError("connection reset")
            except utils.ssl.SSLError:
                print("an OSError taken for an SSLError")
            except OSError:
                real = sys.modules["ssl"]
                print(type(real).__name__, utils.ssl.SSLError is real.SSLError)
            """
        )
    )
    assert out == "module True"


def _team_file(root: Path, hosts: str, agent: str = str(FAKE_AGENT)) -> Path:
    path = root / "team.toml"
    path.write_text(
        f'[team]\nname = "entry"\nzookeeper = "{hosts}"\nauth = "env:CO_ENTRY_AUTH"\n\n'
        f'[agents.claude]\ncommand = ["{sys.executable}", "{agent}"]\n',
        encoding="utf-8",
    )
    return path


def _env() -> dict[str, str]:
    drop = ("ZK_HOSTS", "CO_TEAM", "CO_TEAM_FILE", "CO_INSTANCE_ID", "CO_ZK_AUTH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "CO_ENTRY_AUTH": AUTH}


@pytest.fixture
def hosts(zk_hosts: str) -> Iterator[str]:
    """The test's chroot, whose authenticated tree is removed with the team's credential
    (the anonymous teardown cannot)."""
    yield zk_hosts
    owner = connect(ZkOptions(zk_hosts, auth=AUTH))
    try:
        owner.delete("/claude-orchestrator", recursive=True)
    except NoNodeError:
        pass
    finally:
        disconnect(owner)


@pytest.fixture
def idle_worker(hosts: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A worker started as the supervisor starts it, under ``-X importtime``, registered
    and idle; stopped (SIGTERM) at the end."""
    team_file = _team_file(tmp_path, hosts)
    log = tmp_path / "worker.err"
    argv = ["-f", str(team_file), "worker", "--name", "lean"]
    with log.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", BIN, *argv],
            cwd=tmp_path,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "registered as" not in log.read_text(encoding="utf-8"):
            assert proc.poll() is None, log.read_text(encoding="utf-8")[-2000:]
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.02)
        yield proc, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_an_idle_worker_loads_neither_click_nor_tls_nor_openssl(
    idle_worker: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, log = idle_worker
    maps = Path(f"/proc/{proc.pid}/maps").read_text(encoding="utf-8")
    loaded = {
        line.rsplit("|", 1)[1].strip()
        for line in log.read_text(encoding="utf-8").splitlines()
        if line.startswith("import time:")
    }
    assert "claude_orchestrator.worker.loop" in loaded  # the log is the worker's
    assert not loaded & set(NEVER), sorted(loaded & set(NEVER))
    assert "libcrypto" not in maps and "libssl" not in maps  # its digests: builtin SHA


def _both_ways(cwd: Path, env: dict[str, str], *argv: str) -> list[tuple[int, str]]:
    """(exit code, stderr) of ``argv`` as given (the lean way) and with its ``--name NAME``
    spelled ``--name=NAME`` (click's way)."""
    at = argv.index("--name")
    spelled = [*argv[:at], f"--name={argv[at + 1]}", *argv[at + 2 :]]
    results = []
    for args in (list(argv), spelled):
        p = subprocess.run(
            [BIN, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        results.append((p.returncode, p.stderr))
    return results


@pytest.mark.parametrize(
    "case", ["missing team file", "bad name", "agent not found", "embedded server stopped"]
)
def test_errors_read_as_the_click_commands_do(case: str, hosts: str, tmp_path: Path) -> None:
    env = _env()
    if case == "missing team file":
        argv: tuple[str, ...] = ("-f", str(tmp_path / "none.toml"), "worker", "--name", "w")
    elif case == "bad name":
        argv = ("-f", str(_team_file(tmp_path, hosts)), "worker", "--name", "a b")
    elif case == "agent not found":
        team_file = _team_file(tmp_path, hosts, agent=str(tmp_path / "no-such-agent"))
        team_file.write_text(
            team_file.read_text().replace(f'"{sys.executable}", ', ""), encoding="utf-8"
        )
        argv = ("-f", str(team_file), "worker", "--name", "w")
    else:
        (tmp_path / "team.toml").write_text('[team]\nname = "entry"\n', encoding="utf-8")
        argv = ("-f", str(tmp_path / "team.toml"), "worker", "--name", "w")
    lean, clicks = _both_ways(tmp_path, env, *argv)
    assert lean == clicks
    assert lean[0] in (2, 4) and lean[1].startswith("error: "), lean


def test_the_lean_worker_runs_tasks_like_any_other(hosts: str, tmp_path: Path) -> None:
    """Its digests come from Python's own SHA code: the agent's scoped credential and the
    ACLs it is checked against still agree (the agent completes its task)."""
    co = Cli(hosts, tmp_path, team="entry")
    co.env.update({"CO_ENTRY_AUTH": AUTH})  # the team file in its folder names it
    team_file = _team_file(tmp_path, hosts)
    tid = co.ok("push-task", "--title", "t", "--description", "do it")["id"]
    log = tmp_path / "worker.err"
    with log.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [BIN, "-f", str(team_file), "worker", "--name", "lean"],
            cwd=tmp_path,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while co.ok("show-task", "--task-id", tid)["status"] != "completed":
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text(encoding="utf-8")
