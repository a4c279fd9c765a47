"""The supervisor end to end: the real binary, its embedded ZooKeeper, real workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from claude_orchestrator.conf.serverproof import MAIN_CLASS
from claude_orchestrator.zk.client import ZkOptions, connect, disconnect
from claude_orchestrator.zk.paths import TeamPaths
from claude_orchestrator.zk.taskmodel import Task
from claude_orchestrator.zk.team import Team
from tests.clihelp import BIN
from tests.helpers import exited, wait_until

pytestmark = pytest.mark.slow

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
TEAM = f"""
[team]
name = "sup"

[agents.claude]
command = [{json.dumps(sys.executable)}, {json.dumps(str(FAKE_AGENT))}]

[[worker]]
name = "w1"
role = "dev"

[[worker]]
name = "w2"
role = "dev"
"""


@dataclass
class Project:
    root: Path

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        timeout = float(extra.pop("timeout", "60"))
        env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
        env.update(CO_INSTANCE_ID="", **extra)
        return subprocess.run(
            [BIN, "-f", str(self.root / "team.toml"), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str, **extra: str) -> Any:
        r = self.run(*args, **extra)
        assert r.returncode == 0, f"{args}: {r.stderr}"
        return json.loads(r.stdout) if r.stdout.startswith(("{", "[")) else r.stdout

    def ps(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.ok("ps", "--json")}

    def hosts(self) -> str:
        data = json.loads((self.root / ".claude-orchestrator/run/zookeeper.json").read_text())
        return str(data["hosts"])

    def team(self) -> tuple[Team, Any]:
        # the embedded server's team is authenticated by default: use its generated credential
        cred = (self.root / ".claude-orchestrator/auth/team").read_text().strip()
        client = connect(ZkOptions(self.hosts(), auth=cred))
        return Team(client, "sup"), client

    def our_processes(self) -> list[psutil.Process]:
        mine = str(self.root)
        out = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if mine in cmd:
                out.append(proc)
        return out


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    (tmp_path / "team.toml").write_text(TEAM)
    p = Project(tmp_path)
    yield p
    p.run("down", "--timeout", "2s")
    for proc in p.our_processes():
        proc.kill()


def running(p: Project, *names: str) -> dict[str, dict[str, Any]]:
    rows = p.ps()
    return rows if all(rows.get(n, {}).get("state") == "running" for n in names) else {}


def test_up_ps_down_leaves_nothing_running(project: Project) -> None:
    out = project.ok("up", "-d")
    assert "is up" in out and "w1 running" in out and "w2 running" in out
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "both workers running")
    assert rows["w1"]["role"] == "dev" and rows["w1"]["pid"]
    for row in rows.values():
        cmd = psutil.Process(row["pid"]).cmdline()
        assert cmd[-3:] == ["worker", "--name", row["name"]]
    down = project.ok("down")
    assert sorted(down["stopped"]) == ["w1", "w2"]
    assert project.our_processes() == []
    assert not (project.root / ".claude-orchestrator/run/supervisor.pid").exists()


def test_embedded_server_runs_with_the_team_files_heap(project: Project) -> None:
    (project.root / "team.toml").write_text('[team]\nname = "sup"\nzookeeper_heap = "192m"\n')
    project.ok("up", "-d")
    java = [p for p in project.our_processes() if MAIN_CLASS in p.cmdline()]
    assert len(java) == 1
    assert [arg for arg in java[0].cmdline() if arg.startswith("-Xmx")] == ["-Xmx192m"]
    project.ok("down")


def test_killed_worker_is_replaced_and_its_task_requeued(project: Project) -> None:
    project.ok("up", "-d")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    team, client = project.team()
    try:
        pushed = project.ok("push-task", "--title", "slow", "--description", "fake-agent:sleep=1.5")
        tid = pushed["id"]

        def in_progress() -> Task | None:
            rec = team.tasks.get(tid)
            return rec if rec.status == "in_progress" else None

        rec = wait_until(in_progress, 20, "the task to start")
        victim = str(rec.claimed_by).rsplit("-", 1)[0]
        old_pid = rows[victim]["pid"]
        # in_progress is recorded just before the agent starts: wait for the process itself
        agent_pids = wait_until(
            lambda: [c.pid for c in psutil.Process(old_pid).children(recursive=True)],
            10,
            "the worker's agent",
        )
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        def requeued() -> bool:
            r = team.tasks.get(tid)
            return r.retry_count == 1 and r.status in ("pending", "claimed", "in_progress")

        wait_until(requeued, 5, "the task back in the queue")
        assert time.monotonic() - killed_at < 1.0
        # at once, not eventually: an agent still sleeping would die of a broken pipe later
        assert agent_pids and not [pid for pid in agent_pids if process_running(pid)]
        wait_until(lambda: team.tasks.get(tid).status == "completed", 30, "task completed")
        new = wait_until(lambda: running(project, victim), 20, "the worker back")
        assert new[victim]["pid"] != old_pid and new[victim]["restarts"] == 1
        assert any("recovered" in (h.note or "") for h in team.tasks.get(tid).history)
        log = project.root / ".claude-orchestrator/logs/supervisor.log"
        wait_until(lambda: " completed " in log.read_text(), 10, "a completed event")
        text = log.read_text()
        assert " claimed w" in text and f"recovered {victim} {tid}" in text
    finally:
        disconnect(client)


def test_an_agent_that_cannot_start_makes_its_worker_fatal_at_once(project: Project) -> None:
    # executable, so 'up' accepts it, but not a program: its start fails at run time
    garbage = project.root / "not-a-program"
    garbage.write_bytes(b"\x00\x01\x02")
    garbage.chmod(0o755)
    broken = f"\n[agents.broken]\ncommand = [{json.dumps(str(garbage))}]\n"
    worker = '\n[[worker]]\nname = "bad"\nagent = "broken"\n'
    (project.root / "team.toml").write_text(TEAM + broken + worker)
    project.ok("up", "-d")
    wait_until(lambda: running(project, "bad"), 20, "bad running first")
    # it claims this task, cannot start its agent, gives the task back and stops for good
    project.ok("push-task", "--title", "x", "--assignee", "bad")
    wait_until(lambda: project.ps()["bad"]["state"] == "fatal", 30, "bad to be fatal")
    row = project.ps()["bad"]
    # the cause is where the user looks, not only in logs/bad.log
    why = str(row["last_exit"])
    assert why.startswith("exited 2: error: worker 'bad': cannot execute"), why
    assert "not-a-program" in why and "not a program (exec format error" in why, why
    assert row["restarts"] == 0 and project.ps()["w1"]["state"] == "running"
    task = project.ok("list-tasks", "--assignee", "bad")[0]
    assert task["status"] == "pending" and task["retry_count"] == 0
    # a second `up` checks the agents again, as the first one does
    garbage.chmod(0o644)
    again = project.run("up", "-d")
    assert again.returncode == 2 and again.stdout == "", again.stderr
    assert again.stderr.startswith("error: worker 'bad': cannot execute"), again.stderr
    assert "not executable (permission denied)" in again.stderr
    # so do `restart` of that worker and `reload`; a restart of the others goes ahead
    for argv in (("restart", "bad"), ("reload",)):
        refused = project.run(*argv)
        assert refused.returncode == 2 and refused.stdout == "", refused.stderr
        assert "error: worker 'bad': cannot execute" in refused.stderr, refused.stderr
    assert project.ok("restart", "w1")["restarted"] == ["w1"]


def test_second_supervisor_refuses_and_up_starts_only_whats_missing(project: Project) -> None:
    project.ok("up", "-d", "w1")
    wait_until(lambda: running(project, "w1"), 20, "w1 running")
    second = project.run("up", "--no-tui", "--supervise", timeout="30")
    assert second.returncode == 1 and "already running" in second.stderr
    reply = project.ok("up", "--json")
    assert reply["started"] == ["w2"] and reply["kept"] == ["w1"]
    assert reply["workers"]["w2"] == "starting" and reply["pid"]
    wait_until(lambda: running(project, "w1", "w2"), 20, "both running")
    again = project.ok("up", "-d")  # what the first `up -d` prints, not JSON
    assert "is up" in again and "w1 running, w2 running" in again


def test_restart_and_reload_apply_only_the_diff(project: Project) -> None:
    project.ok("up", "-d")
    before = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    assert project.ok("restart", "w1")["restarted"] == ["w1"]

    def replaced() -> dict[str, dict[str, Any]]:
        rows = running(project, "w1")
        return rows if rows and rows["w1"]["pid"] != before["w1"]["pid"] else {}

    after = wait_until(replaced, 20, "w1 back with a new pid")
    assert after["w2"]["pid"] == before["w2"]["pid"]
    text = (project.root / "team.toml").read_text()
    text = text.replace('name = "w2"\nrole = "dev"', 'name = "w2"\nrole = "qa"')
    (project.root / "team.toml").write_text(text + '\n[[worker]]\nname = "w3"\n')
    reply = project.ok("reload")
    assert reply == {"started": ["w3"], "stopped": [], "restarted": ["w2"], "kept": ["w1"]}

    def reloaded() -> dict[str, dict[str, Any]]:
        rows = running(project, "w1", "w2", "w3")
        return rows if rows and rows["w2"]["role"] == "qa" else {}

    rows = wait_until(reloaded, 20, "all three running, w2 as qa")
    assert rows["w1"]["pid"] == after["w1"]["pid"]


def test_supervisor_killed_and_started_again_replaces_its_workers(project: Project) -> None:
    project.ok("up", "-d")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    sup_pid = json.loads((project.root / ".claude-orchestrator/run/supervisor.pid").read_text())
    os.kill(sup_pid, signal.SIGKILL)
    wait_until(lambda: exited(sup_pid), 10, "the supervisor gone")
    project.ok("up", "-d")
    new = wait_until(lambda: running(project, "w1", "w2"), 40, "workers replaced")
    for name in ("w1", "w2"):
        assert new[name]["pid"] != rows[name]["pid"]
        assert exited(rows[name]["pid"])
    workers = [p for p in project.our_processes() if "worker" in p.cmdline()]
    assert len(workers) == 2


def test_down_without_a_supervisor_cleans_up(project: Project) -> None:
    project.ok("up", "-d")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    sup_pid = json.loads((project.root / ".claude-orchestrator/run/supervisor.pid").read_text())
    os.kill(sup_pid, signal.SIGKILL)
    wait_until(lambda: exited(sup_pid), 10, "the supervisor gone")
    out = project.ok("down", "--timeout", "5s")
    assert sorted(out["stopped"]) == ["w1", "w2"] and out["zookeeper"] == "stopped"
    for row in rows.values():
        assert exited(row["pid"])
    assert project.our_processes() == []


def test_logs_shows_each_workers_sessions(project: Project) -> None:
    project.ok("up", "-d", "w1")
    wait_until(lambda: running(project, "w1"), 20, "w1 running")
    tid = project.ok("push-task", "--title", "hi", "--description", "say hi")["id"]
    team, client = project.team()
    try:
        wait_until(lambda: team.tasks.get(tid).status == "completed", 20, "completed")
    finally:
        disconnect(client)
    out = project.ok("logs", "--task", tid)
    assert "w1" in out and "done" in out


def process_running(pid: int) -> bool:
    """Exists and has not exited (a zombie has)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_stuck_worker_is_killed_and_restarted(project: Project) -> None:
    project.ok("up", "-d", CO_STUCK_AFTER="3s")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    os.kill(rows["w1"]["pid"], signal.SIGSTOP)  # alive, but its loop makes no progress

    def replaced() -> dict[str, dict[str, Any]]:
        now = running(project, "w1")
        return now if now and now["w1"]["pid"] != rows["w1"]["pid"] else {}

    new = wait_until(replaced, 30, "the stuck worker replaced")
    assert new["w2"]["pid"] == rows["w2"]["pid"]
    assert exited(rows["w1"]["pid"])


def test_up_ps_down_against_an_external_zookeeper(project: Project, zk_hosts: str) -> None:
    out = project.ok("-z", zk_hosts, "up", "-d")
    assert zk_hosts in out
    assert not (project.root / ".claude-orchestrator/run/zookeeper.json").exists()

    def both() -> dict[str, Any]:
        rows = {r["name"]: r for r in project.ok("-z", zk_hosts, "ps", "--json")}
        ok = all(rows.get(n, {}).get("state") == "running" for n in ("w1", "w2"))
        return rows if ok else {}

    wait_until(both, 20, "workers running")
    assert project.ok("-z", zk_hosts, "restart", "w2")["restarted"] == ["w2"]
    down = project.ok("-z", zk_hosts, "down")
    assert sorted(down["stopped"]) == ["w1", "w2"]
    assert project.our_processes() == []


def test_foreground_up_shows_the_dashboard_and_ctrl_c_brings_the_team_down(
    project: Project,
) -> None:
    import pexpect

    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    child = pexpect.spawn(
        BIN,
        ["-f", str(project.root / "team.toml"), "up"],
        cwd=project.root,
        env=env,
        dimensions=(40, 120),
        encoding="utf-8",
        timeout=30,
    )
    try:
        child.expect("events")  # the dashboard's section rule
        child.expect("joined")
        wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
        child.sendintr()
        child.expect(pexpect.EOF, timeout=30)
        child.close()
        assert child.exitstatus == 0
        assert project.our_processes() == []
    finally:
        if child.isalive():
            child.kill(signal.SIGKILL)


def test_a_team_with_auth_works_end_to_end_and_refuses_strangers(project: Project) -> None:
    from kazoo.exceptions import NoAuthError

    text = TEAM.replace('name = "sup"\n', 'name = "sup"\nauth = "env:CO_ZK_AUTH"\n', 1)
    (project.root / "team.toml").write_text(text)
    secret = {"CO_ZK_AUTH": "team:s3cret"}
    project.ok("up", "-d", **secret)
    tid = project.ok("push-task", "--title", "x", "--description", "hi", **secret)["id"]

    def done() -> bool:
        rec = project.ok("show-task", "--task-id", tid, **secret)
        return bool(rec["status"] == "completed")

    wait_until(done, 30, "the task completed by an authenticated worker")
    stranger = project.run("show-task", "--task-id", tid)  # no credentials in its environment
    assert stranger.returncode == 2 and "CO_ZK_AUTH is not set" in stranger.stderr
    wrong = project.run("show-task", "--task-id", tid, CO_ZK_AUTH="team:guess")
    assert wrong.returncode == 1 and "not authorised" in wrong.stderr
    client = connect(ZkOptions(project.hosts()))
    try:
        with pytest.raises(NoAuthError):
            client.get_children("/claude-orchestrator/sup/tasks/records")
    finally:
        disconnect(client)
    assert project.ok("down", **secret)["supervisor"] == "stopped"


def test_leader_recovers_tasks_of_an_expired_lease(project: Project, zk_hosts: str) -> None:
    def cli(*args: str) -> Any:
        return project.ok("-z", zk_hosts, *args)

    tid = cli("push-task", "--title", "held")["id"]
    cli("register", "--name", "oneshot", "--lease", "1s")
    assert cli("claim-task")["id"] == tid  # then this shell goes silent: no heartbeat
    env = {k: v for k, v in os.environ.items() if k not in ("ZK_HOSTS", "CO_TEAM")}
    argv = [BIN, "-f", str(project.root / "team.toml"), "-z", zk_hosts, "leader", "--no-tui"]
    leader = subprocess.Popen(
        argv,
        cwd=project.root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    lines: list[str] = []
    out = leader.stdout
    assert out is not None
    reading = threading.Thread(target=lambda: lines.extend(out), daemon=True)
    reading.start()
    reader_client = connect(ZkOptions(zk_hosts))
    reader = Team(reader_client, "sup")
    try:

        def recovered() -> bool:
            # read ZooKeeper directly: a CLI task command sweeps too when no leader is up yet
            # (zk/recovery.py sweep_if_leaderless), and this test is about the leader's sweep
            rec = reader.tasks.get(tid)
            return bool(rec.status == "pending" and rec.retry_count == 1)

        wait_until(recovered, 30, "the leader's sweep to recover the task")
        # the expired one is gone; what is left is the leader's own inbox (issue 11 §8)
        assert [i["role"] for i in cli("list-instances")] == ["leader"]
        # the leader prints the event once its watch has read the record: wait for the line
        # itself, not only for the recovery in ZooKeeper, before stopping it
        wait_until(lambda: any("recovered" in line for line in lines), 30, "the event line")
    finally:
        disconnect(reader_client)
        leader.send_signal(signal.SIGTERM)
        assert leader.wait(30) == 0
        reading.join(10)


def test_a_host_name_of_our_own_reaches_workers_snapshot_and_control(project: Project) -> None:
    project.ok("up", "-d", CO_HOST="build-1")
    rows = wait_until(lambda: running(project, "w1", "w2"), 20, "workers running")
    assert {row["host"] for row in rows.values()} == {"build-1"}

    def with_instances() -> dict[str, dict[str, Any]]:
        now = project.ps()
        ids = {n: str(now.get(n, {}).get("instance_id") or "") for n in ("w1", "w2")}
        return now if all(iid.startswith(f"{n}-") for n, iid in ids.items()) else {}

    wait_until(with_instances, 10, "each row with its own instance's id")
    team, client = project.team()
    try:
        assert client.get_children(TeamPaths("sup").supervisors) == ["build-1"]
        instances = [team.registry.find(i) or {} for i in team.registry.ids()]
        assert {inst.get("host") for inst in instances} == {"build-1"}
    finally:
        disconnect(client)
    out = project.ok("restart", "w1", CO_HOST="build-1")  # this host's supervisor answers
    assert out["restarted"] == ["w1"]
    assert project.ok("config", CO_HOST="build-1")["host"] == "build-1"
