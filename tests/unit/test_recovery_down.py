"""`down` on fakes: from the truth when the store cannot be written, every FLEET_NAME carrier
swept, and what survived listed (the CLI exits 1 on it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl.errors import StoreError
from fleetctl.runtime import stop
from fleetctl.testing import FakeProcess
from tests.unit.test_fleet_with_fakes import AGENT, Rig

pytestmark = pytest.mark.timeout(20)


def escaped(rig: Rig) -> FakeProcess:
    """A process that left its agent's tree and group (setsid + double fork) and dropped FLEET_RUN."""
    return rig.procs.start(1, [("FLEET_NAME", "fakes"), ("FLEET_AGENT", "a")])


def test_a_read_only_store_stops_everything_from_the_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    agent, stray = rig.pid(), escaped(rig)

    def readonly(*_args: object, **_kwargs: object) -> None:
        raise StoreError("fleet.db: the state database cannot be written (attempt to write a readonly database)")

    monkeypatch.setattr(rig.fleet.store, "set_desired", readonly)
    report = stop.stop_all(rig.fleet)
    assert report.left == ()
    assert report.unrecorded is not None and "cannot be written" in report.unrecorded
    assert not rig.procs.alive(agent) and not rig.procs.alive(stray.pid)
    assert rig.tmux.server is None  # the fleet's tmux server is gone


def test_down_sweeps_by_fleet_name_and_lists_what_survived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    stray, stubborn = escaped(rig), escaped(rig)
    other = rig.procs.start(1, [("FLEET_NAME", "another-fleet")])
    send = rig.procs.signal

    def signal(targets: dict[int, float], sig: int) -> None:  # one process no signal ends (a D-state)
        send({p: s for p, s in targets.items() if p != stubborn.pid}, sig)

    monkeypatch.setattr(rig.procs, "signal", signal)
    report = stop.stop_all(rig.fleet)
    assert report.unrecorded is None
    assert not rig.procs.alive(stray.pid)
    assert report.left == (stubborn.pid,)
    assert report.lines == [f"process {stubborn.pid} survived SIGKILL"]
    assert rig.procs.alive(other.pid)  # another fleet's process is not ours to stop
