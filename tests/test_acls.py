"""Auth by default (DESIGN §3.9): ACL policy, tree check and repair, agents' scoped identity and
environment, workers that execute task text, and run files that must prove their server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE

from claude_orchestrator.conf.agents import resolve_agent
from claude_orchestrator.conf.credentials import agent_credential, digest_id
from claude_orchestrator.conf.exposure import refuse_open_exposure, task_text_exposure
from claude_orchestrator.conf.serverproof import verified_server
from claude_orchestrator.conf.team import AgentConfig
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.supervisor.embedded import EmbeddedZk
from claude_orchestrator.worker.agentenv import agent_environment
from claude_orchestrator.worker.settings import WorkerSettings
from claude_orchestrator.zk.acls import AclError, check_tree, fix_tree
from claude_orchestrator.zk.acls import acl_ids as ids_of
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.push import push, validate_spec
from claude_orchestrator.zk.team import Team
from tests.clihelp import BIN

TEAM_CRED = "team:s3cret-team"
AGENT_CRED = agent_credential(TEAM_CRED)


@pytest.fixture
def owner(zk_hosts: str) -> Iterator[KazooClient]:
    c = connect(ZkOptions(zk_hosts, auth=TEAM_CRED))
    yield c
    c.delete("/claude-orchestrator", recursive=True)  # the anonymous teardown cannot
    disconnect(c)


@pytest.fixture
def agent(zk_hosts: str) -> Iterator[KazooClient]:
    c = connect(ZkOptions(zk_hosts, auth=AGENT_CRED, team_id=digest_id(TEAM_CRED)))
    yield c
    disconnect(c)


# -- the policy ---------------------------------------------------------------------------------


def test_agent_identity_works_the_queue_but_cannot_control_supervisors(
    owner: KazooClient, agent: KazooClient
) -> None:
    from claude_orchestrator.supervisor.control import ControlClient

    Team(owner, "acl")
    folder = TeamPaths("acl").control_host(socket.gethostname())
    owner.ensure_path(folder)  # what a supervisor's ControlServer.arm does
    scoped = Team(agent, "acl")
    spec = validate_spec({"title": "from an agent"}, "t")
    task = push(scoped.tasks, [spec], "agent", time.time())[0]
    assert Team(owner, "acl").tasks.get(task.id).title == "from an agent"
    scoped.context.set("k", "v", "agent", time.time())
    with pytest.raises(NoAuthError):
        ControlClient(agent, "acl").request("down", {}, 5.0)
    with pytest.raises(NoAuthError):
        agent.create(TeamPaths("acl").control_host("other-host"), makepath=False)
    with pytest.raises(NoAuthError):
        agent.create(TeamPaths("acl").leader, b"{}", ephemeral=True)
    # what the agent made, the team identity fully controls; the agent cannot re-grant it
    key = scoped.context.paths.context_key("k")
    with pytest.raises(NoAuthError):
        agent.set_acls(key, list(OPEN_ACL_UNSAFE))
    owner.delete(key)


def test_check_refuses_an_open_tree_and_fix_acls_repairs_it(
    zk_hosts: str, owner: KazooClient
) -> None:
    anon = connect(ZkOptions(zk_hosts))
    try:
        Team(anon, "old")  # a team that ran before auth: every node world-open
    finally:
        disconnect(anon)
    ids = ids_of(TEAM_CRED)
    with pytest.raises(AclError) as refused:
        check_tree(owner, "old", ids)
    assert "/claude-orchestrator/old," in str(refused.value) and "fix-acls" in str(refused.value)
    report = fix_tree(owner, "old", ids)
    assert report.fixed == report.checked > 10 and report.refused == []
    check_tree(owner, "old", ids)
    assert fix_tree(owner, "old", ids).fixed == 0  # idempotent
    stranger = connect(ZkOptions(zk_hosts))
    try:
        with pytest.raises(NoAuthError):
            stranger.get_children(TeamPaths("old").records)
    finally:
        disconnect(stranger)


def test_check_refuses_a_tree_a_stranger_created(zk_hosts: str, owner: KazooClient) -> None:
    stranger = connect(ZkOptions(zk_hosts, auth="mallory:pw"))
    try:
        Team(stranger, "shared")  # pre-created with the stranger's own ACLs
        with pytest.raises(AclError, match="not the team's"):
            check_tree(owner, "shared", ids_of(TEAM_CRED))
        report = fix_tree(owner, "shared", ids_of(TEAM_CRED))
        assert report.fixed == 0 and TeamPaths("shared").root in report.refused
    finally:
        stranger.delete(TeamPaths("shared").root, recursive=True)
        disconnect(stranger)


# -- agents: environment and refusal ------------------------------------------------------------


def worker_settings(tmp_path: Path, agent: str = "claude", **kw: object) -> WorkerSettings:
    zk = ZkOptions("127.0.0.1:1", auth=TEAM_CRED)
    spec = resolve_agent(agent, None)
    return WorkerSettings("w1", "dev", tmp_path, spec, "t", zk, tmp_path, tmp_path, **kw)  # type: ignore[arg-type]


def test_agent_environment_is_an_allow_list_without_the_team_credential(tmp_path: Path) -> None:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LC_ALL": "C.UTF-8",
        "ANTHROPIC_API_KEY": "sk-1",
        "CO_ZK_AUTH": TEAM_CRED,
        "MY_TEAM_SECRET": TEAM_CRED,
        "AWS_SECRET_ACCESS_KEY": "x",
        "CLAUDECODE": "1",
    }
    ws = worker_settings(
        tmp_path, env={"MY_TEAM_SECRET": "leak"}, credential_vars=("MY_TEAM_SECRET",)
    )
    env = agent_environment(base, ws, "w1-0001", "task-1")
    assert env["ANTHROPIC_API_KEY"] == "sk-1" and env["LC_ALL"] == "C.UTF-8"
    assert env["HOME"] == "/home/me" and env["CO_TASK_ID"] == "task-1"
    for gone in ("CO_ZK_AUTH", "MY_TEAM_SECRET", "AWS_SECRET_ACCESS_KEY", "CLAUDECODE"):
        assert gone not in env
    assert env["CO_AGENT_AUTH"] == AGENT_CRED and env["CO_TEAM_DIGEST"] == digest_id(TEAM_CRED)
    assert "s3cret-team" not in json.dumps(env)
    codex = agent_environment(base, worker_settings(tmp_path, "codex"), "w1-0001", None)
    assert "ANTHROPIC_API_KEY" not in codex


@pytest.mark.parametrize(
    ("agent", "args", "why"),
    [
        ("shell", (), "shell preset"),
        ("claude", ("--dangerously-skip-permissions",), "--dangerously-skip-permissions"),
        ("claude", ("--permission-mode", "bypassPermissions"), "bypassPermissions"),
        ("claude", ("--permission-mode=bypassPermissions",), "bypassPermissions"),
        ("codex", ("--full-auto",), "--full-auto"),
        ("gemini", ("--yolo",), "--yolo"),
        ("aider", ("--yes-always",), "--yes-always"),
    ],
)
def test_agents_that_execute_task_text_are_refused_on_an_open_zookeeper(
    agent: str, args: tuple[str, ...], why: str
) -> None:
    spec = resolve_agent(agent, AgentConfig(name=agent, args=args))
    assert why in (task_text_exposure(spec) or "")
    with pytest.raises(ConfigError, match="not authenticated") as refused:
        refuse_open_exposure([("w1", spec)], authenticated=False, insecure=False)
    assert refused.value.exit_code == 2 and "insecure = true" in str(refused.value)
    refuse_open_exposure([("w1", spec)], authenticated=True, insecure=False)
    refuse_open_exposure([("w1", spec)], authenticated=False, insecure=True)


def test_plain_claude_is_not_refused() -> None:
    spec = resolve_agent(
        "claude", AgentConfig(name="claude", args=("--permission-mode", "acceptEdits"))
    )
    assert task_text_exposure(spec) is None


def test_worker_command_refuses_the_shell_preset_without_auth(tmp_path: Path) -> None:
    (tmp_path / "team.toml").write_text('[team]\nname = "t"\nzookeeper = "127.0.0.1:1"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "ZK_"))}
    argv = [BIN, "-f", str(tmp_path / "team.toml"), "worker", "--name", "w", "--agent", "shell"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "shell preset" in done.stderr
    (tmp_path / "team.toml").write_text(
        '[team]\nname = "t"\nzookeeper = "127.0.0.1:1"\ninsecure = true\n'
    )
    argv[1:1] = ["--connect-timeout", "1s"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 4, done.stderr  # allowed now: it went on to connect


# -- run files must prove their server ------------------------------------------------------------


@pytest.fixture
def impostor() -> Iterator[int]:
    """A local listener that answers every four-letter word with 'imok'."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    seen: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                seen.append(conn.recv(64))
                conn.sendall(b"imok")

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()


def test_a_run_file_pointing_at_an_impostor_is_not_adopted(tmp_path: Path, impostor: int) -> None:
    state = tmp_path / ".claude-orchestrator"
    (state / "run").mkdir(parents=True)
    run_file = state / "run" / "zookeeper.json"
    record = {"hosts": f"127.0.0.1:{impostor}", "port": impostor, "pid": os.getpid()}
    run_file.write_text(json.dumps(record))
    assert verified_server(state) is None  # alive, ours, listening — but not ZooKeeper
    emb = EmbeddedZk(state, heap="256m")
    try:
        hosts = emb.ensure_running()
        assert hosts != record["hosts"] and emb.server is not None
        assert verified_server(state) is not None  # the real one proves itself
    finally:
        emb.stop()


def test_a_python_process_posing_as_zookeeper_is_not_believed(tmp_path: Path) -> None:
    state = tmp_path / ".claude-orchestrator"
    code = (
        "import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
        "print(s.getsockname()[1],flush=True);time.sleep(60)"
    )
    posing = subprocess.Popen(
        [sys.executable, "-c", code, "org.apache.zookeeper.server.ZooKeeperServerMain", "x.cfg"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert posing.stdout is not None
        port = int(posing.stdout.readline())
        (state / "run").mkdir(parents=True)
        info = {"hosts": f"127.0.0.1:{port}", "port": port, "pid": posing.pid}
        (state / "run" / "zookeeper.json").write_text(json.dumps(info))
        assert verified_server(state) is None  # another config than ours
    finally:
        posing.kill()
        posing.wait()
