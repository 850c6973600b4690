"""Issue 5 acceptance: rate limits park, credential failures escalate, stalls need every signal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fleetctl.model import FailureClass
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux


def runs(h: FleetHarness, agent: str) -> list:  # type: ignore[type-arg]
    return [r for r in h.fleet().store.runs_since(0) if r.agent == agent]


@pytest.mark.timeout(60)
def test_rate_limit_parks_for_retry_after_without_spending_budget(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    fleet_dir.write(
        f"""
    [agents.limited]
    command = "date +%s.%N >> {starts}; echo 'Error: 429 rate limit exceeded, retry after 5s'; exit 1"
    min_uptime = "0s"
    max_respawns = 1
    """,
        supervisor=True,
    )
    fleet_dir.run("up")
    wait_for(lambda: fleet_dir.status()["limited"]["state"] == "parked", timeout=10, what="parked")
    row = fleet_dir.status()["limited"]
    assert row["failure_class"] == "rate-limited" and 3 < row["next_retry_s"] <= 5
    assert fleet_dir.run("status").code == 3  # degraded, being handled
    wait_for(lambda: len(starts.read_text().split()) >= 2, timeout=15, what="the restart after the park")
    first, second = (float(t) for t in starts.read_text().split()[:2])
    assert 4.5 <= second - first <= 8.0
    assert fleet_dir.status()["limited"]["respawns"] == 0


@pytest.mark.timeout(90)
def test_rate_limited_twenty_times_never_fails(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    fleet_dir.write(
        f"""
    [agents.limited]
    command = "echo x >> {starts}; echo 'HTTP 429 Too Many Requests. Retry-After: 0.2'; exit 1"
    min_uptime = "0s"
    max_respawns = 2
    """,
        supervisor=True,
    )
    fleet_dir.run("up")
    wait_for(
        lambda: starts.exists() and len(starts.read_text().split()) >= 20,
        timeout=60,
        what="20 runs",
        explain=fleet_dir.explain,
    )
    row = fleet_dir.status()["limited"]
    classes = [(r.failure_class, r.respawn, r.stop_reason) for r in runs(fleet_dir, "limited")]
    assert row["state"] != "failed" and row["respawns"] == 0, [
        c for c in classes if c[1] or c[0] is not FailureClass.RATE_LIMITED
    ]
    assert not [e for e in fleet_dir.fleet().store.events() if e.kind in ("gave-up", "supervise-error")]


@pytest.mark.timeout(60)
def test_auth_failure_starts_once_fails_and_alerts_once(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    starts, alerts = tmp_path / "starts", tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [agents.keyless]
    command = "echo x >> {starts}; echo '401 invalid api key'; exit 1"
    min_uptime = "0s"
    backoff = "0s"
    """,
        supervisor=True,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    fleet_dir.run("up")
    wait_for(lambda: fleet_dir.status()["keyless"]["state"] == "failed", timeout=10)
    for _ in range(3):
        fleet_dir.run("reconcile")
    row = fleet_dir.status()["keyless"]
    assert row["reason"].startswith("auth: 401 invalid api key")
    assert starts.read_text().split() == ["x"]
    sent = [json.loads(x) for x in wait_for(lambda: alerts.exists() and alerts.read_text()).splitlines() if x.strip()]  # type: ignore[union-attr]
    assert len(sent) == 1 and sent[0]["agent"] == "keyless" and sent[0]["reason"].startswith("auth")
    assert fleet_dir.run("status").code == 1 and fleet_dir.run("reconcile").code == 1


@pytest.mark.timeout(60)
def test_stall_needs_every_signal_quiet(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    toucher = (
        f"import os, time\\nopen('{beat}', 'a').close()\\nwhile True:\\n    os.utime('{beat}')\\n    time.sleep(0.2)"
    )
    fleet_dir.write(
        f"""
    [defaults]
    idle_timeout = "1s"
    stall_action = "notify"
    min_uptime = "0s"
    [agents.busy]
    command = "python3 -c 'while True: pass'"
    [agents.asleep]
    command = "sleep 1000"
    [agents.beating]
    command = "python3 -c \\"{toucher}\\""
    heartbeat_file = "{beat}"
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: fleet_dir.status()["asleep"]["state"] == "stalled", timeout=10, what="asleep to stall")
    stalled_at = time.monotonic()
    wait_for(lambda: time.monotonic() - stalled_at > 3.0, timeout=5)  # 3 x idle_timeout more
    rows = fleet_dir.status()
    assert rows["busy"]["state"] == "running", rows["busy"]["reason"]
    assert rows["beating"]["state"] == "running", rows["beating"]["reason"]
    assert rows["asleep"]["state"] == "stalled"
    assert "no pane output" in rows["asleep"]["reason"] and "no CPU or I/O" in rows["asleep"]["reason"]
    stalled = [e for e in fleet_dir.fleet().store.events() if e.kind == "stalled"]
    assert [e.agent for e in stalled] == ["asleep"]  # notified once, not once per tick
    assert fleet_dir.run("status").code == 3


def test_exit_codes_healthy_degraded_failed(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.ok]\ncommand = "sleep 100"\nmin_uptime = "0.1s"\n')
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("status").code == 0 and fleet_dir.run("reconcile").code == 0
    fleet_dir.write(
        '[agents.ok]\ncommand = "sleep 100"\nmin_uptime = "0.1s"\n'
        '[agents.bad]\ncommand = "exit 1"\nmin_uptime = "0.1s"\nbackoff = "1m"\n'
    )
    assert fleet_dir.run("reconcile").code == 3  # bad crashed and waits out its backoff
    assert fleet_dir.run("status").code == 3
    fleet_dir.write(
        '[agents.ok]\ncommand = "sleep 100"\nmin_uptime = "0.1s"\n'
        '[agents.bad]\ncommand = "exit 1"\nmin_uptime = "0.1s"\nmax_respawns = 0\n'
    )
    assert fleet_dir.run("reconcile").code == 1
    assert fleet_dir.run("status").code == 1
