"""Pane ids restart at %1 with every tmux server: a live pane of a new server that carries the
pane id of a run `down` ended is an unrecorded run to adopt, not that run lingering."""

from __future__ import annotations

from pathlib import Path

from fleetctl import plan as P
from fleetctl.model import (
    AgentObservation,
    AgentRecord,
    AgentSpec,
    AgentState,
    FailureClass,
    FleetSpec,
    Observation,
    PaneInfo,
    Run,
)

NOW = 10_000.0
SPEC = AgentSpec(name="a", command="x", min_uptime=1.0, start_timeout=10.0)


def decide(pane_pid: int) -> P.Plan:
    stopped = Run(
        id="old",
        agent="a",
        started=NOW - 60,
        pid=100,
        pane_id="%1",
        verified=NOW - 59,
        ended=NOW - 5,
        failure_class=FailureClass.KILLED,
        stopped_by="down",
        stop_reason="stop: fleetctl down",
    )
    pane = PaneInfo(
        window_id="@1", window_name="a", pane_id="%1", pid=pane_pid, dead=False, dead_status=None, activity=NOW
    )
    obs = Observation(
        time=NOW, server_running=True, agents={"a": AgentObservation(pane=pane, alive=True, tree=(pane_pid,))}
    )
    fleet = FleetSpec(name="f", path=Path("/f/fleet.toml"), state_dir=Path("/f/.fleet"), agents=(SPEC,))
    return P.plan(fleet, {"a": AgentRecord(name="a", runs=(stopped,))}, obs, NOW)


def test_a_new_servers_pane_with_an_old_runs_pane_id_is_adopted() -> None:
    plan = decide(pane_pid=4242)
    assert plan.actions == (P.Adopt("a", "@1", "%1", 4242),)
    assert plan.views["a"].state is AgentState.RUNNING


def test_the_ended_runs_own_lingering_pane_is_still_treated_as_dead() -> None:
    plan = decide(pane_pid=100)
    assert not any(isinstance(a, P.Adopt) for a in plan.actions)
    assert plan.views["a"].state is not AgentState.RUNNING
