"""Issue 2 acceptance against real tmux (private sockets) and real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, FleetHarness, alive, free_port, free_ports, pids_with_env, port_open, wait_for

pytestmark = pytest.mark.tmux

HTTP = "python3 -m http.server {port} --bind 127.0.0.1"


def pids(h: FleetHarness) -> dict[str, object]:
    return {name: row["pid"] for name, row in h.status().items()}


def test_up_verifies_ports_and_is_idempotent(fleet_dir: FleetHarness) -> None:
    base = free_ports(3)
    fleet_dir.write(f"""
    [defaults]
    min_uptime = "0.3s"
    [agents.web]
    command = "{HTTP}"
    port = {base}
    replicas = 3
    """)
    first = fleet_dir.run("up")
    assert first.code == 0, first
    assert all(port_open(base + i) for i in range(3))
    before = pids(fleet_dir)
    assert all(isinstance(p, int) for p in before.values())
    second = fleet_dir.run("up")
    assert second.code == 0
    assert pids(fleet_dir) == before  # healthy agents untouched
    for pid in before.values():
        assert os.getpgid(pid) == pid  # the window's command is the group leader


def test_up_after_down_starts_more_agents_than_one_pass_may(fleet_dir: FleetHarness) -> None:
    """Agents waiting for the action budget are not failed for their run from before `down`."""
    fleet_dir.write(
        """
    [agents.w]
    command = "sleep 1000"
    replicas = 3
    min_uptime = "0s"
    """,
        extra_fleet="max_actions_per_tick = 1",
    )
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("down").code == 0
    again = fleet_dir.run("up")
    assert again.code == 0, again
    assert {name: row["state"] for name, row in fleet_dir.status().items()} == dict.fromkeys(
        ("w-1", "w-2", "w-3"), "running"
    )
    assert all(alive(pid) for pid in pids(fleet_dir).values())  # type: ignore[arg-type]


def test_port_that_never_opens_fails_within_start_timeout(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f"""
    [agents.deaf]
    command = "echo listening soon; sleep 100"
    port = {port}
    start_timeout = "2s"
    min_uptime = "0.2s"
    """)
    started = time.monotonic()
    result = fleet_dir.run("up")
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert elapsed < 2 + 1 + 0.5
    assert f"deaf: port {port} not listening after 2s; last output: listening soon" in result.out
    assert not pids_with_env("FLEET_AGENT", "deaf")  # the unverified process is not left running


def test_agent_that_exits_at_once_fails_min_uptime(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.quick]
    command = "echo bye; exit 4"
    min_uptime = "1s"
    """)
    result = fleet_dir.run("up")
    assert result.code == 1
    line = result.out.strip()
    assert line.startswith("quick: exited with code 4 after")
    assert "before it was verified (min_uptime 1s)" in line and "last output: bye" in line
    assert fleet_dir.status()["quick"]["last_exit"] == "code 4"


def test_spawns_run_concurrently(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.w]
    command = "sleep 100"
    replicas = 30
    min_uptime = "2s"
    """)
    started = time.monotonic()
    result = fleet_dir.run("up")
    assert result.code == 0, result
    assert time.monotonic() - started < 10  # 30 x 2s one after another would be 60s
    assert sum(1 for row in fleet_dir.status().values() if row["state"] == "running") == 30


def test_down_leaves_no_process_even_setsid_grandchildren(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f"""
    [agents.stubborn]
    command = "python3 {EXAMPLES / "stubborn_agent.py"} {{port}}"
    port = {port}
    stop_timeout = "0.5s"
    min_uptime = "0.3s"
    """)
    assert fleet_dir.run("up").code == 0
    socket_file = Path(fleet_dir.fleet().tmux.socket_path())
    assert socket_file.exists()
    run_id = fleet_dir.fleet().store.records(0)["stubborn"].current.id
    carriers = wait_for(lambda: len(pids_with_env("FLEET_RUN", run_id)) >= 3 and pids_with_env("FLEET_RUN", run_id))
    sids = {os.getsid(p) for p in carriers}  # type: ignore[union-attr]
    assert len(sids) >= 2  # the grandchild really left the session
    result = fleet_dir.run("down")
    assert result.code == 0, result
    assert pids_with_env("FLEET_RUN", run_id) == []
    assert not port_open(port)
    assert fleet_dir.tmux("list-sessions") == ""  # server gone with the last agent
    assert not socket_file.exists()  # tmux 3.3 leaves its socket file behind; down does not
    assert fleet_dir.processes() == []  # gone when down returns, not some time later
    assert fleet_dir.status()["stubborn"]["state"] == "stopped"
    assert fleet_dir.run("status").code == 0


def test_down_one_agent_keeps_the_others(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [defaults]
    min_uptime = "0.2s"
    [agents.a]
    command = "sleep 100"
    [agents.b]
    command = "sleep 100"
    """)
    assert fleet_dir.run("up").code == 0
    before = pids(fleet_dir)
    assert fleet_dir.run("down", "a").code == 0
    after = fleet_dir.status()
    assert after["a"]["state"] == "stopped" and after["a"]["pid"] is None
    assert after["b"]["pid"] == before["b"]
    assert not alive(before["a"])  # type: ignore[arg-type]
    assert Path(fleet_dir.fleet().tmux.socket_path()).exists()  # the server is still b's
    # only a whole-fleet down drops the supervise loop's wake hooks (pane hooks show as window options)
    hooks = fleet_dir.tmux("show-hooks", "-g") + fleet_dir.tmux("show-hooks", "-gw")
    assert all(f"{hook}[0] run-shell" in hooks for hook in ("pane-died", "pane-exited", "window-unlinked")), hooks


def test_restart_gives_a_new_pid(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    old = pids(fleet_dir)["a"]
    assert fleet_dir.run("restart", "a").code == 0
    new = fleet_dir.status()["a"]
    assert new["pid"] != old and new["state"] == "running" and new["respawns"] == 0


def test_agent_environment_and_secrets(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    port = free_port()
    script = f"import json, os; json.dump(dict(os.environ), open('{out}', 'w')); import time; time.sleep(100)"
    fleet_dir.write(f"""
    [agents.a]
    command = "python3 -c \\"{script}\\""
    port = {port}
    start_timeout = "1s"
    env = {{ API_TOKEN = "s3cr3t-value", PLAIN = "visible" }}
    """)
    fleet_dir.run("up")  # fails: nothing listens on the port; the env is written anyway
    env = json.loads(wait_for(lambda: out.exists() and out.read_text()))  # type: ignore[arg-type]
    assert env["FLEET_NAME"] == fleet_dir.name and env["FLEET_AGENT"] == "a" and len(env["FLEET_RUN"]) >= 8
    assert env["FLEET_PORT"] == str(port) and env["FLEET_CONFIG"] == str(fleet_dir.path)
    assert env["FLEET_STATE_DIR"] == str(fleet_dir.state_dir()) and env["API_TOKEN"] == "s3cr3t-value"
    assert env["PLAIN"] == "visible"
    # never in any process's argv, in status, in events, or left in the state dir
    argvs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "s3cr3t-value" not in argvs
    assert "s3cr3t-value" not in fleet_dir.run("status", "--json").out
    events = fleet_dir.fleet().store.events()
    assert events and all("s3cr3t-value" not in json.dumps([e.reason, e.data]) for e in events)
    for path in fleet_dir.state_dir().rglob("*"):
        if path.is_file() and path.suffix in (".sh", ".exit", ".db"):
            assert b"s3cr3t-value" not in path.read_bytes(), path
    assert (fleet_dir.state_dir().stat().st_mode & 0o777) == 0o700


def test_wrapper_scripts_are_emptied_as_they_start_and_gone_once_their_runs_end(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 100"
    min_uptime = "0s"
    env = { API_TOKEN = "s3cr3t-value" }

    [agents.b]
    command = "sleep 100"
    min_uptime = "0s"
    """)
    assert fleet_dir.run("up").code == 0
    runs = fleet_dir.state_dir() / "runs"
    before = set(runs.glob("*.sh"))
    assert len(before) == 2  # one per live run, already emptied by its own shell
    assert all(p.stat().st_size == 0 for p in before), [p.read_bytes() for p in before]
    assert fleet_dir.run("restart", "a").code == 0
    after = set(runs.glob("*.sh"))
    assert len(after) == 2 and len(before & after) == 1  # a's old run is over: its script went; b's stays
    assert fleet_dir.run("down").code == 0
    assert sorted(runs.glob("*.sh")) == []


def test_a_plain_command_replaces_its_shell_and_its_exit_code_is_still_recorded(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.plain]
    command = "sleep 100"
    min_uptime = "0s"

    [agents.listed]
    command = "sleep 100; true"
    min_uptime = "0s"

    [agents.quick]
    command = "sh -c 'echo bye; exit 4'"
    min_uptime = "1s"
    max_respawns = 0
    """)
    assert fleet_dir.run("up").code == 1  # quick fails, the others run

    def children(pid: int) -> list[str]:
        out = subprocess.run(["ps", "-o", "args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    rows = fleet_dir.status()
    assert children(int(rows["plain"]["pid"])) == ["sleep 100"]  # the wrapper's child is the agent itself
    assert children(int(rows["listed"]["pid"])) == ["/bin/sh -c sleep 100; true"]  # a list keeps its shell
    assert rows["quick"]["last_exit"] == "code 4"


def test_status_as_its_own_process_prints_every_agent_and_keeps_its_exit_code(fleet_dir: FleetHarness) -> None:
    """`status` ends its process without the interpreter's teardown: nothing may be lost by that."""
    fleet_dir.write("""
    [agents.w]
    command = "sleep 100"
    min_uptime = "0s"
    replicas = 40

    [agents.quick]
    command = "exit 4"
    min_uptime = "1s"
    max_respawns = 0
    """)
    assert fleet_dir.run("up").code == 1  # quick fails
    result = fleet_dir.run_process("status", "--json")
    assert result.code == 1, result  # failed, from os._exit as from sys.exit
    rows = json.loads(result.out)
    assert len(rows) == 41 and sum(r["state"] == "running" for r in rows) == 40
    table = fleet_dir.run_process("status")
    assert table.code == 1 and len(table.out.strip().splitlines()) == 42, table  # header and every agent


def test_status_forks_one_tmux_call_whatever_the_fleet_size(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    real = subprocess.run(["which", "tmux"], capture_output=True, text=True, check=True).stdout.strip()
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    calls = tmp_path / "calls"
    (shim_dir / "tmux").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {real} "$@"\n')
    (shim_dir / "tmux").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim_dir}:{os.environ['PATH']}"}

    def count_status() -> list[str]:
        calls.write_text("")
        proc = subprocess.run(
            [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return [line for line in calls.read_text().splitlines() if line]

    for n in (1, 20):
        fleet_dir.write(f'[agents.w]\ncommand = "sleep 100"\nreplicas = {n}\nmin_uptime = "0s"\n')
        assert fleet_dir.run("up").code == 0
        seen = count_status()
        assert len(seen) == 1 and seen[0].startswith("-L fleetctl-") and "list-panes -a" in seen[0], seen


def test_bad_config_changes_nothing(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\nstart_timeout = "soon"\n')
    for args in (("up",), ("status",), ("down",), ("reconcile",)):
        result = fleet_dir.run_process(*args)
        assert result.code == 2
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "agents.a.start_timeout" in lines[0] and "duration" in lines[0]
        assert "Traceback" not in result.err
    assert fleet_dir.tmux("list-sessions") == ""
    assert not fleet_dir.state_dir().exists()


def test_unknown_agent_name_is_a_usage_error(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n')
    result = fleet_dir.run_process("up", "nosuch")
    assert result.code == 2 and "no agent named 'nosuch'" in result.err and "Traceback" not in result.err


def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    def init() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fleetctl", "init"], cwd=tmp_path, capture_output=True, text=True, check=False
        )

    assert init().returncode == 0
    from fleetctl import spec

    loaded = spec.load(tmp_path / "fleet.toml")
    from fleetctl.cli.misc import fleet_name_for

    assert loaded.name == fleet_name_for(tmp_path) and loaded.agents[0].port == 8001
    assert "#" in (tmp_path / "fleet.toml").read_text()
    again = init()
    assert again.returncode == 2 and "already exists" in again.stderr


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "fleetctl", "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("fleetctl ")


def test_attach_shows_the_agent_window(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    fleet_dir.write('[agents.a]\ncommand = "echo attach-marker-42; sleep 100"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    outer = f"outer-{fleet_dir.name}"
    cmd = f"{sys.executable} -m fleetctl -c {fleet_dir.path} attach a"
    try:
        subprocess.run(["tmux", "-L", outer, "new-session", "-d", "-x", "100", "-y", "20", cmd], check=True)
        screen = wait_for(lambda: "attach-marker-42" in _capture(outer) and _capture(outer), timeout=10)
        assert "attach-marker-42" in screen  # type: ignore[operator]
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True, check=False)


def _capture(socket_name: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket_name, "capture-pane", "-p"], capture_output=True, text=True, check=False
    ).stdout


def test_a_large_batch_of_long_commands_comes_up(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    """One tmux call cannot carry 60 long command lines: the batch is split, every agent runs."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    padding = "x" * 150
    fleet_dir.write(
        f"""
    [agents.w]
    command = "sleep 100 # {padding}"
    cwd = "{deep}"
    replicas = 60
    min_uptime = "0s"
    max_actions_per_tick = 60
    """.replace("    max_actions_per_tick = 60\n", ""),
        extra_fleet="max_actions_per_tick = 60",
    )
    result = fleet_dir.run("up")
    assert result.code == 0, result
    assert sum(1 for row in fleet_dir.status().values() if row["state"] == "running") == 60
