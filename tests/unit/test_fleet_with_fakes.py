"""Fleet on fakes: a fake tmux server, fake processes, a FakeClock, and a real SQLite store.

The same code paths as the integration tests (observe, plan, apply, the TERM -> KILL
escalation), in milliseconds: every wait advances the fake clock instead of sleeping.
"""

from __future__ import annotations

import signal
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from fleetctl import spec as spec_module
from fleetctl.fleet import Fleet
from fleetctl.model import AgentState, Event
from fleetctl.procs import ProcTable
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


class CountingProcesses(FakeProcessGateway):
    """Counts what a pass reads: full scans, pane reads (by pid) and socket maps."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.scans = 0
        self.read_pids: list[int] = []
        self.socket_maps = 0

    def scan(self) -> ProcTable:
        self.scans += 1
        return super().scan()

    def read(self, pids: Iterable[int]) -> ProcTable:
        wanted = list(pids)
        self.read_pids += wanted
        return super().read(wanted)

    def listening(self) -> dict[int, set[int]]:
        self.socket_maps += 1
        return super().listening()


def counting_rig(tmp_path: Path, toml: str) -> tuple[Rig, CountingProcesses]:
    rig = Rig(tmp_path, toml)
    procs = CountingProcesses(rig.clock)
    rig.procs = procs
    rig.tmux = FakeTmuxGateway(procs, rig.clock)
    rig.fleet = Fleet(rig.fleet.spec, tmux=rig.tmux, procs=procs, clock=rig.clock, on_event=rig.events.append)
    return rig, procs


PORTS = """
[fleet]
name = "fakes"
supervisor = false

[defaults]
min_uptime = "0s"
start_timeout = "10s"
backoff = "0s"

[agents.a]
command = "sleep 100"
port = 7000
replicas = 20
"""


def test_a_respawn_pass_reads_no_pane_process_and_a_port_is_verified_without_a_scan(tmp_path: Path) -> None:
    rig, procs = counting_rig(tmp_path, PORTS)
    for i in range(20):
        rig.tmux.ports[f"a-{i + 1}"] = 7000 + i
    assert rig.fleet.up() == []
    assert procs.scans == 0  # 20 ports verified by tracing each listener up to its pane

    procs.read_pids.clear()
    victim = rig.pid("a-7")
    procs.exit(victim, 128 + signal.SIGKILL)
    rig.tick()  # the pass that respawns: tmux says which pane died, one pane is read for the server
    assert "respawned" in rig.kinds("a-7")
    assert len(procs.read_pids) <= 1 and procs.scans == 0

    maps = procs.socket_maps
    rig.tick()  # at once: the new run is younger than a verify poll, so its port is not looked at
    assert procs.socket_maps == maps and rig.kinds("a-7")[-1] == "respawned"
    rig.clock.advance(0.06)
    rig.tick()
    assert procs.socket_maps == maps + 1 and rig.kinds("a-7")[-1] == "verified"
    assert procs.scans == 0


def test_a_port_held_by_a_grandchild_of_the_pane_is_the_agents(tmp_path: Path) -> None:
    rig, procs = counting_rig(tmp_path, PORTS.replace("replicas = 20", "replicas = 2"))
    rig.tick()  # spawned, nothing listens yet
    pane = rig.pid("a-1")
    child = procs.start(pane)
    procs.start(child.pid, port=7000)  # the listener, two levels down
    procs.start(1, port=7001)  # a-2's port, held by a process that is not a-2's
    rig.clock.advance(1.0)
    rig.tick()
    assert rig.kinds("a-1")[-1] == "verified"
    assert "verified" not in rig.kinds("a-2")
    assert rig.row("a-2").state is AgentState.STARTING
