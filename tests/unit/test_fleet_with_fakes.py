"""Fleet on fakes: a fake tmux server, fake processes, a FakeClock, and a real SQLite store.

The same code paths as the integration tests (observe, plan, apply, the TERM -> KILL
escalation), in milliseconds: every wait advances the fake clock instead of sleeping.
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from fleetctl import spec as spec_module
from fleetctl.fleet import Fleet
from fleetctl.model import AgentState, Event
from fleetctl.testing import FakeClock, FakeProcessGateway, FakeTmuxGateway

pytestmark = pytest.mark.timeout(20)


class Rig:
    def __init__(self, tmp_path: Path, toml: str) -> None:
        path = tmp_path / "fleet.toml"
        path.write_text(textwrap.dedent(toml))
        self.clock = FakeClock()
        self.procs = FakeProcessGateway(self.clock)
        self.tmux = FakeTmuxGateway(self.procs, self.clock)
        self.events: list[Event] = []
        self.fleet = Fleet(
            spec_module.load(path),
            tmux=self.tmux,
            procs=self.procs,
            clock=self.clock,
            on_event=self.events.append,
        )

    def kinds(self, agent: str) -> list[str]:
        return [e.kind for e in self.events if e.agent == agent]

    def row(self, name: str = "a"):  # type: ignore[no-untyped-def]
        (row,) = self.fleet.status([name])
        return row

    def pid(self, name: str = "a") -> int:
        pid = self.row(name).pid
        assert pid is not None
        return int(pid)

    def tick(self) -> None:
        with self.fleet.store.lock():
            self.fleet.tick(supervisor=False)


AGENT = """
[fleet]
name = "fakes"
supervisor = false

[agents.a]
command = "sleep 100"
min_uptime = "2s"
start_timeout = "10s"
backoff = "5s"
stop_timeout = "3s"
max_respawns = 3
"""


def test_up_verifies_after_min_uptime_on_the_fake_clock(tmp_path: Path) -> None:
    rig = Rig(tmp_path, AGENT)
    before = rig.clock.monotonic()
    assert rig.fleet.up(["a"]) == []
    row = rig.row()
    assert row.state is AgentState.RUNNING
    assert rig.procs.alive(row.pid)
    assert rig.kinds("a")[:2] == ["spawned", "verified"]
    waited = rig.clock.monotonic() - before
    assert 2.0 <= waited < 3.0, waited  # verified once min_uptime had passed, and not much later
    window = rig.tmux.window("a")
    assert window is not None and rig.procs.environ(window.pid)["FLEET_AGENT"] == "a"


def test_a_crash_backs_off_then_respawns_once_the_backoff_has_passed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    first = rig.pid()
    rig.procs.exit(first, 1)
    rig.tick()
    row = rig.row()
    assert row.state is AgentState.BACKOFF
    assert row.last_exit is not None and "1" in row.last_exit
    assert row.next_retry_s == pytest.approx(5.0, abs=0.5)
    assert "exited" in rig.kinds("a") and "backoff" in rig.kinds("a")
    rig.clock.advance(4.0)
    rig.tick()
    assert rig.row().state is AgentState.BACKOFF  # not yet
    assert "respawned" not in rig.kinds("a")
    rig.clock.advance(1.5)
    rig.tick()
    assert rig.kinds("a").count("respawned") == 1
    second = rig.row().pid
    assert second is not None and second != first and rig.procs.alive(second)
    assert rig.row().respawns == 1


def test_stopping_escalates_from_term_to_kill_after_stop_timeout(tmp_path: Path) -> None:
    rig = Rig(tmp_path, AGENT)
    rig.tmux.ignore_term.add("a")
    assert rig.fleet.up(["a"]) == []
    pid = rig.pid()
    assert rig.fleet.down(["a"]) == []
    sent = [(s.signal, s.at) for s in rig.procs.signals if s.pid == pid]
    assert [sig for sig, _ in sent] == [signal.SIGTERM, signal.SIGKILL]
    assert sent[1][1] - sent[0][1] == pytest.approx(3.0, abs=0.05)  # the agent's stop_timeout
    assert not rig.procs.alive(pid)
    assert rig.row().state is AgentState.STOPPED
    assert rig.row().last_exit == "stopped"


def test_an_agent_that_ends_on_term_gets_no_kill(tmp_path: Path) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    pid = rig.pid()
    before = rig.clock.monotonic()
    assert rig.fleet.down(["a"]) == []
    assert [s.signal for s in rig.procs.signals if s.pid == pid] == [signal.SIGTERM]
    assert rig.clock.monotonic() - before < 0.5


def test_restart_keeps_the_respawn_budget(tmp_path: Path) -> None:
    rig = Rig(tmp_path, AGENT)
    assert rig.fleet.up(["a"]) == []
    pids = {rig.pid()}
    for _ in range(4):  # more restarts than max_respawns allows respawns
        assert rig.fleet.restart(["a"]) == []
        pids.add(rig.pid())
    row = rig.row()
    assert row.state is AgentState.RUNNING
    assert row.respawns == 0
    assert len(pids) == 5
    assert sum(rig.procs.alive(p) for p in pids) == 1
