"""Run scripts hold an agent's env, secrets included: none may outlive its run.

A kill -9 of `up` after the scripts are written but before tmux opens the windows leaves
`.fleet/runs/<run>.sh` with `export API_TOKEN=…`; the next mutating pass must delete it,
and must never delete a live run's script before its shell has read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl.model import Run, new_run_id
from fleetctl.record import replace
from fleetctl.runtime import launcher
from fleetctl.tmux import WindowRequest
from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux

SECRET = "s3cr3t-orphan-value"


def orphan_script(h: FleetHarness) -> Path:
    """What a killed `up` leaves: a script of a run that was never recorded nor opened."""
    runs = h.state_dir() / "runs"
    runs.mkdir(mode=0o700, parents=True, exist_ok=True)
    script = runs / f"{new_run_id()}.sh"
    script.write_text(f"{{\ntrue 2>/dev/null >\"$0\"\nexport API_TOKEN='{SECRET}'\n/bin/sh -c 'exec sleep 300'\n}}\n")
    script.chmod(0o600)
    return script


def secrets_left(h: FleetHarness) -> list[Path]:
    return [p for p in (h.state_dir() / "runs").glob("*.sh") if SECRET.encode() in p.read_bytes()]


def test_reconcile_deletes_a_script_no_run_owns(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 300"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    script = orphan_script(fleet_dir)
    assert fleet_dir.run("reconcile").code == 0
    assert not script.exists() and secrets_left(fleet_dir) == []
    assert fleet_dir.status()["a"]["state"] == "running"


def test_down_deletes_a_script_no_run_owns(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 300"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    script = orphan_script(fleet_dir)
    assert fleet_dir.run("down").code == 0
    assert not script.exists()
    assert list((fleet_dir.state_dir() / "runs").glob("*.sh")) == []


def test_a_recorded_live_runs_script_is_kept_until_its_shell_read_it(fleet_dir: FleetHarness) -> None:
    """The window of a recorded run may not have started its shell yet: its script stays."""
    fleet_dir.write('[agents.a]\ncommand = "sleep 300"\nmin_uptime = "0.2s"\n[agents.b]\ncommand = "sleep 300"\n')
    assert fleet_dir.run("up", "a").code == 0
    fleet = fleet_dir.fleet()
    spec = fleet.spec.agent("b")
    assert spec is not None
    run = Run(id=new_run_id(), agent="b", started=fleet.now(), fingerprint=spec.fingerprint())
    launcher.window_request(fleet, spec, run, spec.command)
    # Its window is open and recorded, its shell has not read the script yet (it reads none).
    opened = fleet.tmux.open_windows([WindowRequest(name="b", argv=("sleep", "300"), cwd=str(fleet_dir.dir))])
    window = opened.opened[0]
    fleet.store.add_run(replace(run, pid=window.pid, window_id=window.window_id, pane_id=window.pane_id))
    script = fleet.runs_dir / f"{run.id}.sh"
    before = script.read_bytes()
    orphan = orphan_script(fleet_dir)
    with fleet.store.lock():
        fleet.tick(only={"a"})
    assert not orphan.exists()
    assert script.read_bytes() == before and b"exec sleep 300" in before


def test_a_script_whose_run_was_opened_but_not_recorded_is_kept(fleet_dir: FleetHarness) -> None:
    """A killed `up` may have opened the window and died before recording the run: the pane
    carries the run's FLEET_RUN and its shell may not have read the script yet."""
    fleet_dir.write('[agents.a]\ncommand = "sleep 300"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    fleet = fleet_dir.fleet()
    run_id = new_run_id()
    script = fleet.runs_dir / f"{run_id}.sh"
    script.write_text(f"export API_TOKEN='{SECRET}'\n")
    env = (("FLEET_NAME", fleet.spec.name), ("FLEET_AGENT", "x"), ("FLEET_RUN", run_id))
    fleet.tmux.open_windows([WindowRequest(name="_x", argv=("sleep", "300"), cwd=str(fleet_dir.dir), env=env)])
    orphan = orphan_script(fleet_dir)
    with fleet.store.lock():
        fleet.tick()
    assert not orphan.exists() and script.exists()
