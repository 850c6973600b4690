"""Issue 6 acceptance: report, events --follow, logs -f and rotation, doctor, metrics, cron, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetctl import wake
from fleetctl.model import Event
from tests.conftest import EXAMPLES, FleetHarness, free_port, pids_with_env, port_open, wait_for

pytestmark = pytest.mark.tmux

COUNTER_PY = """import itertools, sys, time
for i in itertools.count():
    print('line', i, '.' * 100, flush=True)
    time.sleep(float(sys.argv[1]))
"""


def counter(h: FleetHarness, pause: float) -> str:
    """A command that prints 'line N' every `pause` seconds, N counting from 0."""
    script = h.dir / "counter.py"
    script.write_text(COUNTER_PY)
    return f"{sys.executable} {script} {pause}"


def supervise_for(h: FleetHarness, seconds: float) -> None:
    """Run the real supervise loop in this process for a bounded time, then stop it."""
    fleet = h.fleet(actor="supervisor")
    deadline = time.monotonic() + seconds
    stop = threading.Event()
    worker = threading.Thread(target=fleet.supervise, kwargs={"should_stop": stop.is_set}, daemon=True)
    worker.start()
    while time.monotonic() < deadline and worker.is_alive():
        worker.join(timeout=deadline - time.monotonic())
    stop.set()
    wake.notify(fleet.wake_fifo)
    worker.join(timeout=15)
    assert not worker.is_alive()


def expected_counts(events: list[Event]) -> dict[str, dict[str, int]]:
    """What the report must say per agent, counted straight from the event log."""
    out: dict[str, Counter[str]] = {}
    for e in events:
        if not e.agent:
            continue
        c = out.setdefault(e.agent.split(".")[0], Counter())
        crashed = e.data.get("exit_signal") is not None or e.data.get("exit_code") not in (None, 0)
        c["runs_started"] += e.kind in ("spawned", "respawned")
        c["respawns"] += e.kind == "respawned"
        c["crashes"] += e.kind in ("exited", "start-failed") and crashed
        c["start_failures"] += e.kind == "start-failed"
        c["stalls"] += e.kind == "stalled"
        c["timeouts"] += e.kind == "timed-out"
        c["kills"] += e.kind == "killed"
        c["alerts"] += e.kind == "alert"
        c["gave_up"] += e.kind == "gave-up"
    return {agent: dict(c) for agent, c in out.items()}


@pytest.mark.timeout(90)
def test_scripted_night_report_matches_events(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f"""
    [defaults]
    backoff = "0.1s"
    stop_timeout = "1s"

    [agents.flaky]
    command = "{sys.executable} {EXAMPLES}/flaky_agent.py 0.4"
    min_uptime = "0.2s"
    max_respawns = 2

    [agents.hung]
    command = "{sys.executable} {EXAMPLES}/hung_agent.py"
    min_uptime = "0.2s"
    idle_timeout = "1s"
    max_respawns = 20

    [agents.healthy]
    command = "python3 -m http.server {{port}} --bind 127.0.0.1"
    port = {port}
    min_uptime = "0.2s"
    wall_timeout = "4s"
    max_respawns = 20

    [pools.work]
    command = "exit $(( {{task_id}} == 3 ))"
    slots = 2
    max_attempts = 1
    gate = "test {{task_id}} -ne 2"
    """)
    start = time.time() - 1
    fleet_dir.run("up")
    for i in range(1, 6):
        assert fleet_dir.run("task", "add", f"night task {i}").code == 0
    supervise_for(fleet_dir, 7.0)

    result = fleet_dir.run("report", "--since", "5m", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    store = fleet_dir.fleet().store
    events = [e for e in store.events() if e.time >= start]
    expected = expected_counts(events)
    agents = {a["name"]: a for a in data["agents"]}
    for name in ("flaky", "hung", "healthy"):
        for key, value in expected.get(name, {}).items():
            assert agents[name][key] == value, (name, key)
    assert data["events_by_kind"] == dict(sorted(Counter(e.kind for e in events).items()))

    # what the night should have looked like
    flaky, hung, healthy = agents["flaky"], agents["hung"], agents["healthy"]
    assert flaky["crashes"] == 3 and flaky["respawns"] == 2 and flaky["gave_up"] == 1
    assert data["failed_agents"].keys() == {"flaky"}
    assert sorted(a["agent"] for a in data["open_alerts"]) == ["flaky", "work.3"]  # work.3: needs-human
    assert hung["stalls"] >= 2 and hung["kills"] >= hung["stalls"] and hung["crashes"] == 0
    assert hung["kills_by"].get("supervisor", 0) >= hung["stalls"]
    assert healthy["crashes"] == 0 and healthy["timeouts"] >= 1 and healthy["stalls"] == 0
    assert {k["by"] for k in data["kills"]} == {"supervisor"}
    assert data["duplicates"]["count"] == 0
    task_events = Counter(e.kind.removeprefix("task-") for e in events if e.kind.startswith("task-"))
    assert data["tasks"] == {k: task_events.get(k, 0) for k in {*data["tasks"], *task_events}}
    assert {k: data["tasks"][k] for k in ("added", "done", "failed", "needs-review", "needs-human")} == {
        "added": 5,
        "done": 3,
        "failed": 0,
        "needs-review": 1,
        "needs-human": 1,
    }
    assert data["task_states"]["done"] == 3 and data["task_states"]["queued"] == 0
    cycles = data["supervise"]
    assert cycles["cycles"] > 0 and 0 < cycles["busy_cycles"] <= cycles["cycles"]
    assert int(store.meta()["supervise_cycles"]) == cycles["cycles"]  # every cycle of this fleet was in the window

    text = fleet_dir.run("report", "--since", "5m")
    assert text.code == 0
    assert "duplicates: 0" in text.out and "flaky: gave up after 2 respawns" in text.out
    assert "tasks: added 5, done 3, failed 0, needs-review 1, needs-human 1" in text.out
    assert f"supervise: {cycles['cycles']} cycles, {cycles['busy_cycles']} did work" in text.out
    assert fleet_dir.run("down").code == 0


def test_events_follow_shows_new_event_quickly(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    """)
    store = fleet_dir.fleet().store
    store.add_event(Event(time=time.time(), kind="reset", agent="a", reason="before follow"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "events", "--follow", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("before follow" in x for x in lines), timeout=10, what="the old event")
        time.sleep(0.5)  # let the follower settle into its back-off, so the next wait measures wake-up
        sent = time.monotonic()
        store.add_event(Event(time=time.time(), kind="alert", agent="a", reason="after follow"))
        wait_for(lambda: any("after follow" in x for x in lines), timeout=3, what="the new event")
        assert time.monotonic() - sent < 2.5
        assert json.loads(lines[-1])["kind"] == "alert"
        assert len(lines) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    # a quiet follower sleeps: it used little CPU while waiting
    assert proc.returncode is not None


def test_events_filters_and_since(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    [agents.b]
    command = "sleep 30"
    """)
    store = fleet_dir.fleet().store
    now = time.time()
    store.add_event(Event(time=now - 7200, kind="reset", agent="a", reason="old"))
    store.add_event(Event(time=now, kind="reset", agent="a", reason="new a"))
    store.add_event(Event(time=now, kind="reset", agent="b", reason="new b"))
    r = fleet_dir.run("events", "--since", "1h")
    assert r.code == 0 and "old" not in r.out and "new a" in r.out and "new b" in r.out
    r = fleet_dir.run("events", "--agent", "b", "--json")
    assert [json.loads(x)["reason"] for x in r.out.splitlines()] == ["new b"]
    bad = fleet_dir.run("events", "--since", "last tuesday")
    assert bad.code == 2 and "--since 'last tuesday'" in bad.err and "Traceback" not in bad.err


@pytest.mark.timeout(60)
def test_logs_follow_across_rotation_loses_nothing(fleet_dir: FleetHarness) -> None:
    """The log writer rotates by itself (no reconcile needed); `logs -f` reads across its parts."""
    fleet_dir.write(f"""
    [agents.talker]
    command = "{counter(fleet_dir, 0.005)}"
    min_uptime = "0.2s"
    log_max_size = "8KB"
    log_keep = 2
    """)
    assert fleet_dir.run("up").code == 0
    logs = fleet_dir.state_dir() / "logs" / "talker"
    wait_for(lambda: fleet_dir.run("logs", "talker", "-n", "1").out.startswith("line"), what="first output")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "logs", "talker", "-f", "-n", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def newest_part() -> int:
        return max((int(p.name.rsplit(".", 1)[1]) for p in logs.glob("*.log.*")), default=0)

    try:
        wait_for(lambda: len(lines) >= 2, what="followed output")
        first = int(lines[0].split()[1])
        start = newest_part()
        wait_for(lambda: newest_part() >= start + 4, timeout=30, what="the writer to start four new parts")
        target = int(lines[-1].split()[1]) + 20
        wait_for(lambda: int(lines[-1].split()[1]) >= target, what="output after the last rotation")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    numbers = [int(x.split()[1]) for x in lines if x.startswith("line ")]
    assert numbers == list(range(first, first + len(numbers))), "a line was lost or doubled across rotations"
    # The prune program runs as the writer opens each part: for its few ms there is one more.
    wait_for(lambda: len(list(logs.iterdir())) <= 2, timeout=2, what="at most log_keep files")
    assert fleet_dir.run("down").code == 0


def test_logs_deleted_file_is_recreated_and_survives_death(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(f"""
    [agents.talker]
    command = "{counter(fleet_dir, 0.05)}"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    logs = fleet_dir.state_dir() / "logs" / "talker"
    live = wait_for(lambda: next(iter(logs.glob("*.log")), None), what="the log file")
    assert isinstance(live, Path)
    live.unlink()
    assert fleet_dir.run("reconcile").code == 0
    wait_for(lambda: live.exists() and live.read_bytes().count(b"\n") >= 3, what="the log to be recreated and written")
    assert fleet_dir.run("down").code == 0
    out = fleet_dir.run("logs", "talker", "-n", "3")
    assert out.code == 0 and len(out.out.splitlines()) == 3 and out.out.startswith("line")


def test_logs_strip_ansi_unless_raw(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.color]
    command = "printf '\\\\033[31mred\\\\033[0m plain\\\\n'; sleep 30"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: "red plain" in fleet_dir.run("logs", "color").out, what="output")
    assert "\x1b[31m" not in fleet_dir.run("logs", "color").out
    raw = fleet_dir.run_process("logs", "color", "--raw")
    assert "\x1b[31mred\x1b[0m plain" in raw.out
    assert fleet_dir.run("logs", "nobody").code == 2
    assert fleet_dir.run("down").code == 0


@pytest.mark.timeout(90)
def test_doctor_fails_traceback_passes_healthy_and_leaves_fleet_alone(fleet_dir: FleetHarness) -> None:
    port = free_port()
    fleet_dir.write(f"""
    [agents.web]
    command = "python3 -m http.server {{port}} --bind 127.0.0.1"
    port = {port}
    min_uptime = "0.3s"

    [agents.broken]
    command = "python3 -c 'import nothing_here_at_all'"
    min_uptime = "0.3s"
    """)
    assert fleet_dir.run("up", "web").code == 0
    before_pids = sorted(pids_with_env("FLEET_NAME", fleet_dir.name))
    before_status = fleet_dir.status()
    before_events = len(fleet_dir.fleet().store.events())
    before_sessions = fleet_dir.tmux("list-windows", "-a", "-F", "#{window_id}")

    r = fleet_dir.run("doctor")
    assert r.code == 1, r
    lines = {line.split()[2] if line.split()[1] == "agent" else line.split()[1]: line for line in r.out.splitlines()}
    assert lines["broken"].startswith("FAIL") and "Traceback" in lines["broken"]
    assert lines["web"].startswith("ok") and f"instead of {port}" in lines["web"]
    for check in ("config", "tmux", "state", "lock", "database"):
        assert lines[check].startswith("ok"), lines[check]

    assert sorted(pids_with_env("FLEET_NAME", fleet_dir.name)) == before_pids
    assert fleet_dir.status()["web"]["pid"] == before_status["web"]["pid"]
    assert port_open(port)
    assert len(fleet_dir.fleet().store.events()) == before_events
    assert fleet_dir.tmux("list-windows", "-a", "-F", "#{window_id}") == before_sessions
    assert not pids_with_env("FLEET_NAME", f"doctor-{fleet_dir.name}-{os.getpid()}")
    socket_dir = Path(os.environ["TMUX_TMPDIR"]) / f"tmux-{os.getuid()}"
    assert not [p for p in socket_dir.iterdir() if "doctor" in p.name]

    ok = fleet_dir.run("doctor", "web", "--json")
    assert ok.code == 0, ok
    assert all(c["ok"] for c in json.loads(ok.out))
    assert fleet_dir.run("down").code == 0


def test_doctor_reports_bad_config_and_state_dir(fleet_dir: FleetHarness) -> None:
    fleet_dir.path.write_text('[fleet]\nname = "x"\n[agents.a]\ncolour = 1\n')
    r = fleet_dir.run("doctor")
    assert r.code == 1 and r.out.startswith("FAIL  config") and "Traceback" not in r.err
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    """)
    fleet_dir.state_dir().mkdir(mode=0o755)
    fleet_dir.state_dir().chmod(0o755)
    r = fleet_dir.run("doctor", "--json")
    checks = {c["check"]: c for c in json.loads(r.out)}
    assert r.code == 1 and not checks["state dir"]["ok"] and "chmod 700" in checks["state dir"]["detail"]


def test_metrics_parse_and_textfile(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    min_uptime = "0.2s"
    [agents.b]
    command = "exit 3"
    min_uptime = "0.2s"
    restart = "never"
    """)
    fleet_dir.run("up")
    assert fleet_dir.run("task", "add", "waiting").code == 0
    r = fleet_dir.run("metrics")
    assert r.code == 0, r
    families = {f.name: f for f in text_string_to_metric_families(r.out)}
    tasks = {s.labels["state"]: s.value for s in families["fleetctl_tasks"].samples}
    assert tasks["queued"] == 1 and tasks["done"] == 0
    latency = {s.name: s.value for s in families["fleetctl_dispatch_latency_seconds"].samples}
    assert latency["fleetctl_dispatch_latency_seconds_count"] == 0
    states = {s.labels["state"]: s.value for s in families["fleetctl_agents"].samples}
    assert states["running"] == 1 and states["failed"] == 1
    runs = {s.labels["agent"]: s.value for s in families["fleetctl_agent_runs"].samples}
    assert runs == {"a": 1, "b": 1}
    assert families["fleetctl_observe_seconds"].samples[0].value > 0
    assert families["fleetctl_up"].samples[0].value == 1
    target = tmp_path / "fleet.prom"
    assert fleet_dir.run("metrics", "--textfile", str(target)).code == 0
    assert {f.name for f in text_string_to_metric_families(target.read_text())} >= {"fleetctl_agents", "fleetctl_up"}
    assert fleet_dir.run("down").code == 0


def test_cron_line(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    """)
    r = fleet_dir.run("cron", "--every", "10m")
    assert r.code == 0
    line = r.out.strip()
    assert line.startswith("*/10 * * * * cd /")
    assert f"-c {fleet_dir.path} reconcile" in line and sys.executable in line and "PATH=" in line
    assert fleet_dir.run("cron", "--every", "2h").out.startswith("0 */2 * * *")
    assert "flock -n" in line or "flock" not in line
    bad = fleet_dir.run("cron", "--every", "30s")
    assert bad.code == 2 and "Traceback" not in bad.err


@pytest.mark.parametrize("command", [["status"], ["report"], ["events"], ["metrics"]])
def test_corrupt_database_is_one_clear_line(fleet_dir: FleetHarness, command: list[str]) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    """)
    state = fleet_dir.state_dir()
    state.mkdir(mode=0o700)
    (state / "fleet.db").write_bytes(b"this is not a database, it is garbage\n" * 200)
    r = fleet_dir.run_process(*command)
    assert r.code == 2, r
    assert "Traceback" not in r.err
    error = [line for line in r.err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and str(state / "fleet.db") in error[0] and "not a SQLite database" in error[0]
    assert "hint:" in r.err and "mv " not in r.err and "aside" not in r.err  # moving it aside loses the backlog


def test_report_bad_since_is_usage_error(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    """)
    r = fleet_dir.run("report", "--since", "yesterday-ish")
    assert r.code == 2 and "not a duration or date" in r.err
    empty = fleet_dir.run("report", "--json")
    assert empty.code == 0 and json.loads(empty.out)["duplicates"]["count"] == 0


def test_log_keep_holds_across_many_runs(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.crashy]
    command = "echo run; sleep 0.1; exit 1"
    min_uptime = "0.05s"
    backoff = "0s"
    max_respawns = 6
    log_keep = 3
    """)
    fleet_dir.run("up")
    wait_for(
        lambda: fleet_dir.run("reconcile").code == 1 and fleet_dir.status()["crashy"]["state"] == "failed",
        timeout=30,
        what="the crash loop to end",
    )
    runs = [e for e in fleet_dir.fleet().store.events(agent="crashy") if e.kind in ("spawned", "respawned")]
    assert len(runs) == 7
    logs = list((fleet_dir.state_dir() / "logs" / "crashy").iterdir())
    assert len(logs) <= 2, sorted(p.name for p in logs)  # log_keep - 1 between rotations
    assert fleet_dir.run("logs", "crashy", "-n", "5").out.splitlines() == ["run", "run"]
