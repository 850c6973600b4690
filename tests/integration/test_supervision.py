"""Issue 3 acceptance: reconcile and the supervise loop against real tmux and processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, FleetHarness, alive, free_port, free_ports, pids_with_env, port_open, wait_for

pytestmark = pytest.mark.tmux

HTTP = "python3 -m http.server {port} --bind 127.0.0.1"


def current_run(h: FleetHarness, name: str):  # type: ignore[no-untyped-def]
    return h.fleet().store.records(0)[name].current


def events(h: FleetHarness, kind: str | None = None, agent: str | None = None) -> list:  # type: ignore[type-arg]
    return [e for e in h.fleet().store.events(agent=agent) if kind is None or e.kind == kind]


def listener_pid(port: int) -> int:
    out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout
    return int(out.split("pid=")[1].split(",")[0]) if "pid=" in out else 0


@pytest.mark.timeout(90)
def test_crash_loop_is_capped_and_alerts_once(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    starts, alerts = tmp_path / "starts", tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [agents.crashy]
    command = "echo start >> {starts}; exit 1"
    max_respawns = 3
    backoff = "0.1s"
    min_uptime = "0.2s"
    """,
        supervisor=True,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    assert fleet_dir.run("up").code == 1
    wait_for(lambda: fleet_dir.status()["crashy"]["state"] == "failed", timeout=30, what="crashy to fail")
    row = fleet_dir.status()["crashy"]
    assert row["respawns"] == 3 and row["max_respawns"] == 3
    wait_for(lambda: alerts.exists() and alerts.read_text().strip(), what="the alert")
    # a few more supervise ticks change nothing: no fifth start, no second alert
    assert fleet_dir.run("reconcile").code == 1
    assert starts.read_text().splitlines() == ["start"] * 4
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert len(sent) == 1 and sent[0]["event"] == "failed" and sent[0]["agent"] == "crashy"
    assert "gave up after 3 respawns" in sent[0]["reason"]
    assert fleet_dir.run("status").code == 1
    # reset lets it start again (reset itself starts nothing)
    assert fleet_dir.run("reset", "crashy").code == 0
    assert fleet_dir.status()["crashy"]["respawns"] == 0


def test_reconcile_preserves_healthy_agents(fleet_dir: FleetHarness) -> None:
    base = free_ports(3)
    fleet_dir.write(f"""
    [defaults]
    min_uptime = "0.3s"
    backoff = "0s"
    [agents.web]
    command = "{HTTP}"
    port = {base}
    replicas = 3
    """)
    assert fleet_dir.run("up").code == 0
    before = {n: r["pid"] for n, r in fleet_dir.status().items()}
    os.kill(listener_pid(base + 1), signal.SIGKILL)
    wait_for(lambda: not port_open(base + 1))
    result = fleet_dir.run("reconcile")
    assert result.code == 0, result
    assert "respawned web-2" in result.out
    after = {n: r["pid"] for n, r in fleet_dir.status().items()}
    assert after["web-1"] == before["web-1"] and after["web-3"] == before["web-3"]
    assert after["web-2"] != before["web-2"] and port_open(base + 1)
    quiet = fleet_dir.run("reconcile")
    assert quiet.code == 0 and quiet.out == ""
    assert {n: r["pid"] for n, r in fleet_dir.status().items()} == after


def test_lost_state_dir_adopts_instead_of_killing(fleet_dir: FleetHarness) -> None:
    base = free_ports(2)
    fleet_dir.write(f'[agents.web]\ncommand = "{HTTP}"\nport = {base}\nreplicas = 2\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    before = {n: r["pid"] for n, r in fleet_dir.status().items()}
    shutil.rmtree(fleet_dir.state_dir())
    result = fleet_dir.run("reconcile")
    assert result.code == 0, result
    assert result.out.count("adopted") == 2
    rows = fleet_dir.status()
    assert {n: r["pid"] for n, r in rows.items()} == before
    assert all(r["state"] == "running" for r in rows.values())
    assert fleet_dir.run("reconcile").out == ""


@pytest.mark.timeout(60)
def test_supervise_sweeps_a_crash_orphan_that_holds_the_port(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(
        f"""
    [agents.stubborn]
    command = "python3 {EXAMPLES / "stubborn_agent.py"} {{port}}"
    port = {port}
    backoff = "0s"
    stop_timeout = "0.5s"
    min_uptime = "0.3s"
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    old = current_run(fleet_dir, "stubborn")
    family = wait_for(lambda: len(pids_with_env("FLEET_RUN", old.id)) >= 3 and pids_with_env("FLEET_RUN", old.id))
    holder = listener_pid(port)
    tree_main = [p for p in family if _ppid(p) == old.pid]  # type: ignore[union-attr]
    os.kill(tree_main[0], signal.SIGKILL)  # the agent crashes; its setsid grandchild keeps the socket
    wait_for(lambda: current_run(fleet_dir, "stubborn").id != old.id, timeout=15, what="a respawn")
    wait_for(lambda: current_run(fleet_dir, "stubborn").verified is not None, timeout=15, what="verification")
    assert pids_with_env("FLEET_RUN", old.id) == []
    assert not alive(holder)
    assert port_open(port) and listener_pid(port) != holder
    kinds = [e.kind for e in events(fleet_dir, agent="stubborn")]
    assert "exited" in kinds and "respawned" in kinds


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.timeout(60)
def test_hung_agent_is_killed_after_idle_timeout_and_respawned(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        f"""
    [agents.hung]
    command = "python3 {EXAMPLES / "hung_agent.py"}"
    idle_timeout = "1.5s"
    backoff = "0s"
    min_uptime = "0.2s"
    stop_timeout = "1s"
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    old = current_run(fleet_dir, "hung")
    wait_for(lambda: len(pids_with_env("FLEET_RUN", old.id)) >= 3)
    wait_for(lambda: current_run(fleet_dir, "hung").id != old.id, timeout=20, what="the stall kill and respawn")
    assert pids_with_env("FLEET_RUN", old.id) == []
    stalled = events(fleet_dir, "stalled", "hung")
    assert stalled and "no pane output" in stalled[0].reason and "no CPU or I/O" in stalled[0].reason
    assert any(e.data.get("why") == "idle" for e in events(fleet_dir, "killed", "hung"))


def test_wall_timeout_and_health_failures_kill_and_respawn(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [defaults]
    backoff = "0s"
    min_uptime = "0.2s"
    stop_timeout = "1s"
    [agents.long]
    command = "sleep 100"
    wall_timeout = "1s"
    [agents.sick]
    command = "sleep 100"
    health = "test -e /nonexistent-health-file"
    health_interval = "0.3s"
    health_failures = 2
    """)
    assert fleet_dir.run("up").code == 0
    first = {n: current_run(fleet_dir, n).id for n in ("long", "sick")}

    def repaired() -> bool:
        fleet_dir.run("reconcile")  # cron's view: one pass at a time
        return all(current_run(fleet_dir, n).id != first[n] for n in first)

    wait_for(repaired, timeout=20, interval=0.1, what="both agents killed and respawned", explain=fleet_dir.explain)
    timed = events(fleet_dir, "timed-out", "long")
    assert timed and "over wall_timeout 1s" in timed[0].reason, fleet_dir.explain()
    sick = [e for e in events(fleet_dir, "killed", "sick") if e.data.get("why") == "health"]
    assert sick and "health check failed 2 times" in sick[0].reason
    assert events(fleet_dir, "respawned", "long") and events(fleet_dir, "respawned", "sick")
    for name, run_id in first.items():
        assert pids_with_env("FLEET_RUN", run_id) == [], name


@pytest.mark.timeout(60)
def test_five_concurrent_reconciles_respawn_once(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f'[agents.web]\ncommand = "{HTTP}"\nport = {port}\nbackoff = "0s"\nmin_uptime = "0.3s"\n')
    assert fleet_dir.run("up").code == 0
    os.kill(listener_pid(port), signal.SIGKILL)
    wait_for(lambda: not port_open(port))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "reconcile"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(5)
    ]
    codes = [p.wait(timeout=30) for p in procs]
    assert codes == [0] * 5
    assert len(events(fleet_dir, "respawned", "web")) == 1
    assert len(fleet_dir.fleet().store.runs_since(0)) == 2
    assert port_open(port)


def test_config_changes_added_and_removed_agents(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        '[defaults]\nmin_uptime = "0.2s"\n[agents.keep]\ncommand = "sleep 100"\n'
        '[agents.change]\ncommand = "sleep 100"\n[agents.drop]\ncommand = "sleep 100"\n'
    )
    assert fleet_dir.run("up").code == 0
    before = {n: r["pid"] for n, r in fleet_dir.status().items()}
    fleet_dir.write(
        '[defaults]\nmin_uptime = "0.2s"\n[agents.keep]\ncommand = "sleep 100"\n'
        '[agents.change]\ncommand = "sleep 200"\n[agents.new]\ncommand = "sleep 100"\n'
    )
    dry = fleet_dir.run("reconcile", "--dry-run")
    assert "spawn new" in dry.out and "kill change" in dry.out and "remove drop" in dry.out
    assert {n: r["pid"] for n, r in fleet_dir.status().items() if n in before} == {
        n: p for n, p in before.items() if n != "drop"
    }  # dry run changed nothing
    result = fleet_dir.run("reconcile")
    assert result.code == 0, result
    after = fleet_dir.status()
    assert after["keep"]["pid"] == before["keep"]
    assert after["change"]["pid"] != before["change"] and after["change"]["state"] == "running"
    assert after["new"]["state"] == "running"
    assert "drop" not in after and not alive(before["drop"])  # type: ignore[arg-type]
    assert "drop" not in fleet_dir.tmux("list-windows", "-F", "#{window_name}").split()


@pytest.mark.timeout(60)
def test_supervisor_window_is_restarted_and_stopped_by_down(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\nmin_uptime = "0.2s"\n', supervisor=True)
    assert fleet_dir.run("up").code == 0

    def supervisor_pid() -> int | None:
        for line in fleet_dir.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid} #{pane_dead}").splitlines():
            name, pid, dead = line.split()
            if name == "_supervisor" and dead == "0":
                return int(pid)
        return None

    pid = wait_for(supervisor_pid)
    os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: supervisor_pid() is None)
    fleet_dir.run("reconcile")
    assert wait_for(supervisor_pid) != pid
    new = supervisor_pid()
    assert fleet_dir.run("down").code == 0
    assert not alive(new)  # type: ignore[arg-type]


@pytest.mark.timeout(90)
def test_supervise_notices_every_crash_at_once(fleet_dir: FleetHarness) -> None:
    """Repeated crashes: each one is seen and repaired in well under the loop's idle wait."""
    port = free_port()
    fleet_dir.write(
        f"""
    [agents.web]
    command = "{HTTP}"
    port = {port}
    backoff = "0s"
    min_uptime = "0.1s"
    max_respawns = 50
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    for _ in range(8):
        victim = listener_pid(port)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda victim=victim: port_open(port) and listener_pid(port) not in (0, victim),
            timeout=5,  # type: ignore[misc]
            what="the port to answer again",
            explain=fleet_dir.explain,
        )


def _supervise_in_thread(h: FleetHarness, idle_wait: float):  # type: ignore[no-untyped-def]
    """The supervise loop of this fleet in a thread of the test, with a short idle wait."""
    import threading

    from fleetctl.runtime.supervisor import Supervisor

    fleet = h.fleet()
    supervisor = Supervisor(fleet, idle_wait)
    looks: list[bool] = []
    quiet = supervisor.quiet
    supervisor.quiet = lambda: looks.append(quiet()) or looks[-1]  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, kwargs={"should_stop": stop.is_set}, daemon=True)
    thread.start()
    return fleet, looks, stop, thread


def _up_one_sleeper(h: FleetHarness) -> int:
    """A fleet of one agent that is respawned at once; its pid once `up` has verified it."""
    h.write("""
    [agents.a]
    command = "sleep 100"
    min_uptime = "0s"
    backoff = "0s"
    """)
    assert h.run("up").code == 0
    return int(h.status()["a"]["pid"])  # type: ignore[arg-type]


def _kill_and_await_respawn(h: FleetHarness, pid: int) -> None:
    """SIGKILL the agent's whole group (its wrapper cannot report the end) and wait for a new pid."""
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: h.status()["a"]["pid"] not in (None, pid), timeout=10, what="a respawn", explain=h.explain)


def test_an_idle_fleet_is_looked_over_without_full_passes(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 100"
    min_uptime = "0s"
    replicas = 3
    """)
    assert fleet_dir.run("up").code == 0
    _fleet, looks, stop, thread = _supervise_in_thread(fleet_dir, idle_wait=0.05)
    try:
        wait_for(lambda: len(looks) >= 15, timeout=10, what="fifteen idle waits")
        cycles = int(fleet_dir.fleet().store.meta().get("supervise_cycles", 0))
    finally:
        stop.set()
        thread.join(5)
    assert all(looks[:15]), looks  # nothing happened: each look found it so
    assert 2 <= cycles <= 4, cycles  # the first pass, then one full pass in every ten idle waits


def test_the_idle_wait_after_a_respawn_ends_in_a_quiet_look(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass that acted is checked soon by another, so that the next idle wait is quiet: it
    does not find a stale watch list and pay for a full pass."""
    from fleetctl.runtime import supervisor

    monkeypatch.setattr(supervisor, "ACTED_RECHECK_SECONDS", 0.1)
    before = _up_one_sleeper(fleet_dir)
    _fleet, looks, stop, thread = _supervise_in_thread(fleet_dir, idle_wait=2.0)
    try:
        wait_for(lambda: len(looks) >= 1, timeout=10, what="the loop to go idle")
        _kill_and_await_respawn(fleet_dir, before)
        seen = len(looks)  # the first look after the respawn is an idle wait away
        wait_for(lambda: len(looks) > seen, timeout=10, what="the look after the respawn")
    finally:
        stop.set()
        thread.join(5)
    assert looks[seen] is True, looks  # the pass that respawned was checked before the idle wait


def test_an_end_that_no_wake_up_reports_is_found_by_the_quiet_look(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetctl.runtime import supervisor

    monkeypatch.setattr(supervisor, "FULL_PASS_EVERY", 10_000)  # only the quiet look can notice
    before = _up_one_sleeper(fleet_dir)
    fleet, looks, stop, thread = _supervise_in_thread(fleet_dir, idle_wait=0.1)
    try:
        wait_for(lambda: len(looks) >= 2, timeout=10, what="the loop to go idle")
        fleet.tmux.drop_wake_hooks()  # tmux will not wake the loop, and a SIGKILLed wrapper cannot
        _kill_and_await_respawn(fleet_dir, before)
    finally:
        stop.set()
        thread.join(5)
    assert not alive(before)
    assert False in looks  # the look that saw the end, and ran the full pass
