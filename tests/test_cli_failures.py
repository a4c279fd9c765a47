"""Failures say what happened: bad input is an ``error:`` line with exit 2 (never a
traceback), answers that are known at once come at once, and Ctrl-C exits 130 quietly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.paths import ROOT
from tests.clihelp import BIN, Cli
from tests.helpers import wait_until


@pytest.fixture
def co(zk_hosts: str, tmp_path: Path) -> Cli:
    return Cli(zk_hosts, tmp_path)


def run_bytes(
    co: Cli, *args: str | bytes, stdin: bytes = b"", timeout: float = 30
) -> tuple[int, str]:
    """Run the real binary with raw byte arguments and stdin; (exit code, stderr)."""
    env = {**os.environ, **co.env}
    p = subprocess.run(
        [BIN, *args], cwd=co.cwd, env=env, input=stdin, capture_output=True, timeout=timeout
    )
    return p.returncode, p.stderr.decode("utf-8", "replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_clean_error(code: int, err: str, expected_code: int, *words: str) -> None:
    assert code == expected_code, (code, err)
    assert err.startswith("error: "), err
    assert "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


# --- malformed host:port ----------------------------------------------------------------


@pytest.mark.parametrize("hosts", ["localhost:abc", "h:99999", ":", "a:1:2", "[::1", "h:1,"])
def test_a_malformed_zookeeper_flag_is_a_usage_error(co: Cli, hosts: str) -> None:
    r = co.binary("-z", hosts, "list-tasks")
    assert_clean_error(r.code, r.err, 2, "--zookeeper", repr(hosts))


def test_a_malformed_zookeeper_in_the_team_file_is_a_config_error(co: Cli) -> None:
    (co.cwd / "team.toml").write_text('[team]\nname = "x"\nzookeeper = "foo:bar"\n')
    r = co.binary("list-tasks", ZK_HOSTS="")
    assert_clean_error(r.code, r.err, 2, "team file", "'bar'")


# --- non-UTF-8 input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (b"push-task", b"--title", b"bad \xff title"),
        (b"set-context", b"--key", b"k", b"--value", b"\xfe"),
        (b"send-message", b"--broadcast", b"-m", b"hi \xc3"),
        (b"push-task", b"--title", b"t", b"--context", b"k=\xff"),
    ],
    ids=["title", "context", "message", "task-context"],
)
def test_non_utf8_arguments_are_refused(co: Cli, args: tuple[bytes, ...]) -> None:
    code, err = run_bytes(co, *args)
    assert_clean_error(code, err, 2, "not valid UTF-8")
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)


def test_a_non_utf8_task_file_is_refused(co: Cli) -> None:
    (co.cwd / "tasks.jsonl").write_bytes(b'{"title": "caf\xe9"}\n')
    code, err = run_bytes(co, "push-task", "--from-file", "tasks.jsonl")
    assert_clean_error(code, err, 2, "not valid UTF-8")
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)


@pytest.mark.parametrize(
    "args",
    [
        ("push-task", "--title", "t", "--description", "-"),
        ("set-context", "--key", "k", "--value", "-"),
        ("send-message", "--broadcast", "-m", "-"),
    ],
    ids=["description", "context", "message"],
)
def test_non_utf8_standard_input_is_refused(co: Cli, args: tuple[str, ...]) -> None:
    code, err = run_bytes(co, *args, stdin=b"caf\xe9\n")
    assert_clean_error(code, err, 2, "standard input is not valid UTF-8")
    assert sum(co.ok("status")["tasks"].values()) == 0  # no task in any state (nor a team)


# --- fail fast ------------------------------------------------------------------------------


def test_a_refused_port_fails_at_once_not_at_the_connect_timeout(co: Cli) -> None:
    started = time.monotonic()
    r = co.binary("--connect-timeout", "20s", "list-tasks", ZK_HOSTS=f"127.0.0.1:{free_port()}")
    assert time.monotonic() - started < 5
    assert_clean_error(r.code, r.err, 4, "connection refused")


def test_a_stopped_embedded_team_is_known_at_once(co: Cli) -> None:
    (co.cwd / "team.toml").write_text('[team]\nname = "x"\n')
    started = time.monotonic()
    r = co.binary("--connect-timeout", "20s", "list-tasks", ZK_HOSTS="")
    assert time.monotonic() - started < 5
    assert_clean_error(r.code, r.err, 4, "embedded server is not running", "'up'")


# --- read-only commands never create a team -------------------------------------------------


def test_an_unknown_team_is_an_error_naming_the_teams_and_creates_nothing(
    co: Cli, zk_hosts: str
) -> None:
    co.ok("push-task", "--title", "t", "--team", "real")
    r = co("--team", "ghost", "list-tasks")
    assert_clean_error(r.code, r.err, 2, "unknown team 'ghost'", "teams there: real")
    admin = connect(ZkOptions(zk_hosts))
    try:
        assert admin.get_children(ROOT) == ["real"]
    finally:
        disconnect(admin)


# --- click's own errors, and Ctrl-C ---------------------------------------------------------


@pytest.mark.parametrize("args", [("list-tasks", "--bogus"), ("no-such-command",), ("push-task",)])
def test_usage_errors_start_with_error(co: Cli, args: tuple[str, ...]) -> None:
    r = co.binary(*args)
    assert_clean_error(r.code, r.err, 2)
    assert "Usage:" not in r.err


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a connect that hangs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def has_socket(pid: int) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd).startswith("socket:") for fd in fds.iterdir())
    except OSError:
        return False


def interrupt(co: Cli, *args: str, **env: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [BIN, *args],
        cwd=co.cwd,
        env={**os.environ, **co.env, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: has_socket(proc.pid), what="the command to connect")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_ctrl_c_while_connecting_exits_130_quietly(co: Cli, silent_server: int) -> None:
    code, err = interrupt(co, "list-tasks", ZK_HOSTS=f"127.0.0.1:{silent_server}")
    assert code == 130, (code, err)
    assert "Aborted" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [("watch-context", "--key", "k"), ("watch-tasks",), ("wait-for-message",)],
    ids=["context", "tasks", "message"],
)
def test_ctrl_c_in_a_watch_exits_130_quietly(co: Cli, args: tuple[str, ...]) -> None:
    iid = co.ok("register", "--name", "w1")["id"]
    code, err = interrupt(co, *args, CO_INSTANCE_ID=iid)
    assert code == 130, (code, err)
    assert "Aborted" not in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["restart", "reload"])
def test_restart_and_reload_with_no_supervisor_fail_at_once(
    co: Cli, zk_hosts: str, command: str
) -> None:
    (co.cwd / "team.toml").write_text(
        f'[team]\nname = "test"\nzookeeper = "{zk_hosts}"\ninsecure = true\n'
        '[[worker]]\nname = "ann"\n'
    )
    co.ok("push-task", "--title", "t")  # the team exists; only its supervisor is missing
    started = time.monotonic()
    r = co.binary(command)
    assert time.monotonic() - started < 5
    assert_clean_error(r.code, r.err, 1, "no supervisor is running for team 'test'", "'up'")


@pytest.mark.parametrize(
    ("command", "code", "says"),
    [
        ("restart", 1, "no supervisor is running"),
        ("reload", 1, "no supervisor is running"),
        ("show-task", 4, "embedded server is not running"),
    ],
)
def test_commands_on_a_stopped_embedded_team_say_so_at_once(
    co: Cli, command: str, code: int, says: str
) -> None:
    (co.cwd / "team.toml").write_text('[team]\nname = "x"\n[[worker]]\nname = "ann"\n')
    started = time.monotonic()
    extra = ["--task-id", "task-0000000001"] if command == "show-task" else []
    r = co.binary("--connect-timeout", "20s", command, *extra, ZK_HOSTS="")
    assert time.monotonic() - started < 5
    assert_clean_error(r.code, r.err, code, says)


def test_a_worker_of_a_stopped_embedded_team_says_so_at_once(co: Cli) -> None:
    (co.cwd / "team.toml").write_text('[team]\nname = "x"\n[[worker]]\nname = "ann"\n')
    r = co.binary("worker", "--name", "ann", ZK_HOSTS="")
    assert_clean_error(r.code, r.err, 4, "embedded server is not running", "'up'")
