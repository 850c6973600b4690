"""The log writer owns each run's log: bounded, lossless rotation without re-pointing the pane,
and a run judged only once the writer has its last line."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from fleetctl import logview
from fleetctl.runtime import logs
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

MB = 1024 * 1024
READ = 64 * 1024  # the writer checks the size after each read: a file may pass the limit by one

BIG_PY = """import sys
out = sys.stdout.buffer
pad = b"x" * 90
for i in range(int(sys.argv[1])):
    out.write(b"%09d " % i + pad + b"\\n")
out.flush()
"""


def wait_for_file(path: Path) -> str:
    """Shell that waits until the test creates `path`."""
    return f"while [ ! -e {path} ]; do sleep 0.05; done"


def writer_of(h: FleetHarness, agent: str) -> psutil.Process:
    """The log writer the fleet's tmux server started for this agent's pane."""
    directory = str(h.state_dir() / "logs" / agent)
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == logs.WRITER and any(directory in arg for arg in proc.info["cmdline"] or ()):
            return proc
    raise AssertionError(f"no {logs.WRITER} for {agent}")


def ended(h: FleetHarness, window: str) -> bool:
    return f"1 {window}" in h.tmux("list-panes", "-a", "-F", "#{pane_dead} #{window_name}")


def disk_use(directory: Path) -> tuple[int, int]:
    total = files = 0
    for entry in os.scandir(directory):
        try:
            total += entry.stat().st_size
            files += 1
        except OSError:
            continue
    return total, files


@pytest.mark.timeout(120)
def test_200mb_with_a_10mb_limit_stays_within_limit_times_keep_and_loses_no_line(fleet_dir: FleetHarness) -> None:
    lines = 2_000_000  # 100 bytes each: 200 MB
    script = fleet_dir.dir / "big.py"
    script.write_text(BIG_PY)
    fleet_dir.write(f"""
    [agents.big]
    command = "{sys.executable} {script} {lines}; sleep 600"
    min_uptime = "0.2s"
    log_max_size = "10MB"
    log_keep = 3
    """)
    assert fleet_dir.run("up").code == 0
    directory = fleet_dir.state_dir() / "logs" / "big"
    last = b"%09d " % (lines - 1)
    most_bytes = most_files = 0
    deadline = time.monotonic() + 100
    while True:
        total, files = disk_use(directory)
        most_bytes, most_files = max(most_bytes, total), max(most_files, files)
        parts = logview.log_files(directory)
        if parts and last in parts[-1].read_bytes()[-200:]:
            break
        assert time.monotonic() < deadline, "the 200 MB never reached the log"
        time.sleep(0.005)  # a sampling period, not a wait for a condition
    assert most_files <= 3, f"{most_files} log files at once, log_keep is 3"
    assert most_bytes <= 3 * (10 * MB + READ), f"{most_bytes / MB:.1f} MB on disk at once, the bound is 30 MB"
    data = b"".join(p.read_bytes() for p in logview.log_files(directory))
    numbers = [int(line[:9]) for line in data.split(b"\r\n")[1:-1] if line]
    assert numbers[-1] == lines - 1
    assert numbers == list(range(numbers[0], lines)), "a line was lost or doubled in the files kept"
    assert len(numbers) > 100_000  # log_keep - 2 full parts and the one being written are kept
    assert fleet_dir.run("down").code == 0


@pytest.mark.timeout(60)
def test_a_run_is_judged_after_its_last_line_reached_the_log(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    """The writer is stalled (SIGSTOP) while the agent prints why it failed and exits: the run is
    classified once the writer has written that line, not as a crash from a log still missing it."""
    go, starts = tmp_path / "go", tmp_path / "starts"
    fleet_dir.write(f"""
    [agents.keyless]
    command = "echo x >> {starts}; echo waiting; {wait_for_file(go)}; echo '401 invalid api key'; exit 1"
    min_uptime = "0s"
    backoff = "0s"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: "waiting" in fleet_dir.run("logs", "keyless").out, what="the agent's first line in its log")
    writer = writer_of(fleet_dir, "keyless")
    writer.send_signal(signal.SIGSTOP)
    resume = threading.Timer(1.5, lambda: writer.send_signal(signal.SIGCONT))
    try:
        go.touch()
        wait_for(lambda: ended(fleet_dir, "keyless"), what="the run to end")
        resume.start()
        assert fleet_dir.run("reconcile").code == 1  # a failed agent
    finally:
        resume.cancel()
        writer.send_signal(signal.SIGCONT)
    row = fleet_dir.status()["keyless"]
    assert row["state"] == "failed" and row["reason"].startswith("auth: 401 invalid api key"), row
    assert starts.read_text().split() == ["x"], "started a second time"
    assert not [e for e in fleet_dir.fleet().store.events() if e.kind == "log-incomplete"]


@pytest.mark.timeout(60)
def test_a_writer_that_never_catches_up_is_waited_for_a_bounded_time_and_reported(
    fleet_dir: FleetHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "LOG_END_TIMEOUT_SECONDS", 0.5)
    go = tmp_path / "go"
    fleet_dir.write(f"""
    [agents.stuck]
    command = "echo waiting; {wait_for_file(go)}; echo 'last words'; exit 3"
    min_uptime = "0s"
    restart = "never"
    """)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: "waiting" in fleet_dir.run("logs", "stuck").out, what="the agent's first line in its log")
    writer = writer_of(fleet_dir, "stuck")
    writer.send_signal(signal.SIGSTOP)
    try:
        go.touch()
        wait_for(lambda: ended(fleet_dir, "stuck"), what="the run to end")
        started = time.monotonic()
        fleet_dir.run("reconcile")
        assert time.monotonic() - started < 10
    finally:
        writer.send_signal(signal.SIGCONT)
    late = [e for e in fleet_dir.fleet().store.events() if e.kind == "log-incomplete"]
    assert len(late) == 1 and late[0].agent == "stuck" and "0.5s" in late[0].reason
    assert fleet_dir.status()["stuck"]["last_exit"] == "code 3"


def test_up_without_the_log_writer_says_what_to_install_and_starts_nothing(
    fleet_dir: FleetHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    tmux = shutil.which("tmux")
    assert tmux is not None
    (tools / "tmux").symlink_to(tmux)
    monkeypatch.setenv("PATH", str(tools))
    fleet_dir.write("""
    [agents.a]
    command = "sleep 600"
    """)
    result = fleet_dir.run("up")
    assert result.code == 1
    assert "rotatelogs was not found on PATH" in result.err and "apache2-utils" in result.err
    assert "Traceback" not in result.err
    assert not fleet_dir.tmux("list-panes", "-a", "-F", "#{window_name}").split().count("a")
    doctor = fleet_dir.run("doctor")
    assert doctor.code != 0 and "log writer" in doctor.out and "not installed" in doctor.out
