"""Gates run in the task's environment, and a gate that cannot run is the pool's set-up error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

AGENT = "echo working"


def start(h: FleetHarness, pool: str) -> None:
    h.write(f'[pools.coder]\ncommand = "{AGENT}"\n{pool}\n', supervisor=True)
    result = h.run("up")
    assert result.code == 0, result
    wait_for(lambda: "_supervisor" in h.tmux("list-windows", "-F", "#{window_name}"), what="the supervise loop")


def task(h: FleetHarness, tid: int) -> dict[str, object]:
    return json.loads(h.run("task", "show", str(tid), "--json").out)  # type: ignore[no-any-return]


def fake_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """fleetctl as if run from a virtualenv: VIRTUAL_ENV set, its bin (with a probe) first on PATH."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    probe = venv / "bin" / "fleet-venv-probe"
    probe.write_text("#!/bin/sh\necho from the venv\n")
    probe.chmod(0o755)
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    monkeypatch.setenv("PATH", f"{venv / 'bin'}:{os.environ['PATH']}")
    return venv


@pytest.mark.timeout(60)
def test_the_gate_does_not_see_fleetctls_virtualenv(
    fleet_dir: FleetHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_venv(tmp_path, monkeypatch)
    gate = 'echo VENV=$VIRTUAL_ENV; command -v fleet-venv-probe; test -z \\"$VIRTUAL_ENV\\" && command -v git'
    start(fleet_dir, f'gate = "{gate} && ! command -v fleet-venv-probe"\n[pools.coder.env]\nGATE_MARK = "x"')
    fleet_dir.run("task", "add", "clean gate")
    wait_for(
        lambda: task(fleet_dir, 1)["state"] in ("done", "needs-review"),
        timeout=30,
        what="the gate",
        explain=fleet_dir.explain,
    )
    shown = task(fleet_dir, 1)
    assert shown["state"] == "done", shown
    assert shown["attempts"][0]["gate_output"][0] == "VENV="  # type: ignore[index]


@pytest.mark.timeout(60)
def test_a_pool_env_that_sets_the_virtualenv_keeps_it(
    fleet_dir: FleetHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = fake_venv(tmp_path, monkeypatch)
    gate = f'test \\"$VIRTUAL_ENV\\" = {venv} && command -v fleet-venv-probe'
    env = f'VIRTUAL_ENV = "{venv}"\nPATH = "{venv / "bin"}:/usr/bin:/bin"'
    start(fleet_dir, f'gate = "{gate}"\n[pools.coder.env]\n{env}')
    fleet_dir.run("task", "add", "the pool's own venv")
    wait_for(lambda: task(fleet_dir, 1)["state"] in ("done", "needs-review"), timeout=30, what="the gate")
    assert task(fleet_dir, 1)["state"] == "done"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("gate", "says"),
    [
        ("python3 -m fleet_no_such_module", "No module named fleet_no_such_module"),
        ("fleet-no-such-command --all", "fleet-no-such-command: not found"),
    ],
)
def test_a_gate_that_cannot_run_requeues_alerts_and_trips_the_breaker(
    fleet_dir: FleetHarness, gate: str, says: str
) -> None:
    start(fleet_dir, f'gate = "{gate}"\nmax_attempts = 1\nbreaker_threshold = 2\nbreaker_cooldown = "1h"')
    fleet_dir.run("task", "add", "judged by a broken gate")
    events = lambda kind: [e for e in fleet_dir.fleet().store.events() if e.kind == kind]  # noqa: E731
    wait_for(lambda: events("breaker-opened"), timeout=30, what="the breaker to open", explain=fleet_dir.explain)
    shown = task(fleet_dir, 1)
    # Two attempts ran with max_attempts = 1, yet the task is queued, not needs-human or needs-review:
    # the broken gate spent no attempt.
    assert (shown["state"], shown["attempt"]) == ("queued", 2), shown
    assert "the gate could not run" in str(shown["reason"]) and says in str(shown["reason"])
    assert [a["class"] for a in shown["attempts"]] == ["gate could not run"] * 2  # type: ignore[union-attr]
    alerts = [e.reason for e in events("alert")]
    assert sum(a.startswith("pool-setup: task 1: the gate could not run") for a in alerts) == 2, alerts
    assert any(a.startswith("breaker-open: dispatch paused") for a in alerts)


@pytest.mark.timeout(60)
def test_a_gate_that_ran_and_failed_needs_review(fleet_dir: FleetHarness) -> None:
    start(fleet_dir, 'gate = "echo 1 test failed; exit 1"\nmax_attempts = 1')
    fleet_dir.run("task", "add", "judged and failed")
    wait_for(
        lambda: task(fleet_dir, 1)["state"] != "queued" and task(fleet_dir, 1)["state"] != "running",
        timeout=30,
        what="the gate",
    )
    shown = task(fleet_dir, 1)
    assert (shown["state"], shown["reason"]) == ("needs-review", "gate failed (exit 1): 1 test failed")
    assert not [e for e in fleet_dir.fleet().store.events() if e.kind == "alert"]
