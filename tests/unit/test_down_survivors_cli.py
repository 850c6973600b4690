"""`fleetctl down` when a process outlives SIGKILL: exit 1, and each surviving pid named.

No process can be made to outlive SIGKILL for a test without touching the machine (a
process in uninterruptible sleep needs a hung FUSE or NFS mount), so the command runs
through click's CliRunner on the fakes of fleetctl.testing, with one fake process that no
signal ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fleetctl.cli import root
from fleetctl.cli.base import EXIT_FAILED, EXIT_OK, FleetContext
from fleetctl.fleet import Fleet
from fleetctl.testing import FakeProcess
from tests.unit.test_fleet_with_fakes import AGENT, Rig

pytestmark = pytest.mark.timeout(20)


def down_on(rig: Rig, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`fleetctl -c fleet.toml down ARGS` with the rig's fakes in place of tmux, processes and clock."""

    def fleet(ctx: FleetContext, **kwargs: Any) -> Fleet:
        return Fleet(rig.fleet.spec, tmux=rig.tmux, procs=rig.procs, clock=rig.clock, **kwargs)

    monkeypatch.setattr(FleetContext, "fleet", fleet)
    return CliRunner().invoke(root, ["-c", str(rig.fleet.spec.path), "down", *args], standalone_mode=False)


def stubborn_against_every_signal(rig: Rig, monkeypatch: pytest.MonkeyPatch, *stubborn: FakeProcess) -> None:
    send = rig.procs.signal
    keep = {p.pid for p in stubborn}

    def signal(targets: dict[int, float], sig: int) -> None:
        send({p: s for p, s in targets.items() if p not in keep}, sig)

    monkeypatch.setattr(rig.procs, "signal", signal)


def test_down_exits_1_and_names_each_pid_that_survived_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    agent = rig.pid()
    escaped = [rig.procs.start(1, [("FLEET_NAME", "fakes"), ("FLEET_AGENT", "a")]) for _ in range(3)]
    stubborn_against_every_signal(rig, monkeypatch, escaped[0], escaped[2])

    result = down_on(rig, monkeypatch)

    assert result.exception is None, result.exception
    assert result.return_value == EXIT_FAILED  # what `fleetctl down` exits with (cli.main returns it)
    assert result.stderr.splitlines() == [
        f"error: process {escaped[0].pid} survived SIGKILL",
        f"error: process {escaped[2].pid} survived SIGKILL",
    ]
    assert not rig.procs.alive(agent) and not rig.procs.alive(escaped[1].pid)
    assert rig.procs.alive(escaped[0].pid) and rig.procs.alive(escaped[2].pid)


def test_down_exits_0_when_nothing_survived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    escaped = rig.procs.start(1, [("FLEET_NAME", "fakes"), ("FLEET_AGENT", "a")])
    result = down_on(rig, monkeypatch)
    assert result.exception is None, result.exception
    assert (result.return_value, result.stderr) == (EXIT_OK, "")
    assert not rig.procs.alive(escaped.pid)
