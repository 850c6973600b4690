from __future__ import annotations

import json

from fleetctl import report
from fleetctl.cli.report_text import render_text
from fleetctl.model import Event, Run

T0 = 1_800_000_000.0


def ev(i: int, kind: str, agent: str | None, reason: str = "", **data: object) -> Event:
    return Event(time=T0 + i, kind=kind, agent=agent, reason=reason, data=data, id=i + 1)


NIGHT = [
    ev(0, "spawned", "flaky", "not running", run="r1"),
    ev(1, "spawned", "hung", "not running", run="h1"),
    ev(2, "verified", "flaky", run="r1"),
    ev(3, "verified", "hung", run="h1"),
    ev(4, "exited", "flaky", "exited with code 1", run="r1", exit_code=1, exit_signal=None, **{"class": "crashed"}),
    ev(5, "backoff", "flaky", "next retry in 1s"),
    ev(6, "respawned", "flaky", "exited with code 1", run="r2"),
    ev(7, "start-failed", "flaky", "died early", run="r2", exit_code=None, exit_signal=9, **{"class": "crashed"}),
    ev(8, "stalled", "hung", "stalled: no output", run="h1", by="supervisor", why="idle"),
    ev(9, "killed", "hung", "idle: stalled", run="h1", by="supervisor", why="idle"),
    ev(10, "respawned", "hung", "stalled", run="h2"),
    ev(11, "gave-up", "flaky", "gave up after 1 respawns"),
    ev(12, "alert", "flaky", "failed: gave up", alert="failed"),
    ev(13, "alert", "hung", "stalled: no output", alert="stalled"),
    ev(14, "verified", "hung", run="h2"),
    ev(15, "exited", "ok", "exited with code 0", run="o1", exit_code=0, exit_signal=None, **{"class": "exited"}),
    ev(16, "timed-out", "hung", "ran 5s", run="h2", by="reconcile", why="wall"),
    ev(17, "killed", "hung", "wall: ran 5s", run="h2", by="reconcile", why="wall"),
    ev(18, "start-failed", "ok", "port not listening", run="o2", by="cli", why="start"),
    ev(19, "killed", "ok", "stopped by fleetctl down", run="o3", by="down", why="stop"),
]


def build(**kw: object) -> report.Report:
    return report.build("night", T0, T0 + 100, NIGHT, [], agent_names=["flaky", "hung", "ok", "idle"], **kw)  # type: ignore[arg-type]


def test_counts_per_agent() -> None:
    r = build()
    by = {a.name: a for a in r.agents}
    assert (by["flaky"].runs_started, by["flaky"].respawns, by["flaky"].crashes) == (2, 1, 2)
    assert by["flaky"].start_failures == 1 and by["flaky"].gave_up == 1 and by["flaky"].failed
    assert (by["hung"].stalls, by["hung"].timeouts, by["hung"].kills) == (1, 1, 2)
    assert by["hung"].kills_by == {"supervisor": 1, "reconcile": 1}
    assert by["ok"].crashes == 0 and by["ok"].clean_exits == 1 and by["ok"].start_failures == 1
    assert by["ok"].kills_by == {"down": 1}
    assert by["idle"].runs_started == 0  # configured but quiet agents are listed too
    assert [c.exit_code or c.exit_signal for c in r.crashes] == [1, 9]
    assert r.totals()["kills"] == 3
    assert sum(r.events_by_kind.values()) == len(NIGHT)


def test_alert_open_until_agent_is_verified_again() -> None:
    r = build()
    assert [a.agent for a in r.alerts] == ["flaky", "hung"]
    assert [a.agent for a in r.open_alerts] == ["flaky"]  # hung was verified after its alert


def test_reset_agent_is_no_longer_failed() -> None:
    assert build().failed_agents == {"flaky": "gave up after 1 respawns"}
    assert build(failed_now={}).failed_agents == {}
    assert build(failed_now={"other": "x"}).failed_agents == {"other": "x"}


def test_window_excludes_events_outside() -> None:
    r = report.build("night", T0 + 10, T0 + 12, NIGHT, [])
    assert sum(r.events_by_kind.values()) == 3
    assert [a.name for a in r.agents] == ["flaky", "hung"]


def test_duplicates_are_overlapping_runs() -> None:
    runs = [
        Run(id="a", agent="w", started=1, ended=5),
        Run(id="b", agent="w", started=5, ended=9),  # back to back: fine
        Run(id="c", agent="x", started=1, ended=None),
        Run(id="d", agent="x", started=3, ended=4),  # while c lives
        Run(id="e", agent="p.1", started=1, ended=10, task_id=7),
        Run(id="f", agent="p.2", started=2, ended=3, task_id=7),  # task 7 twice at once
    ]
    dups = report.find_duplicates(runs)
    assert len(dups) == 2
    assert any("agent x" in d and "run d" in d for d in dups)
    assert any("task 7" in d for d in dups)
    assert report.find_duplicates(runs[:2]) == []


def test_json_is_complete_and_serialisable() -> None:
    r = build(cycles=report.Cycles(10, 4, 0.5), tasks={"added": 2}, task_states={"queued": 1})
    data = json.loads(json.dumps(r.as_json()))
    assert data["schema"] == report.REPORT_SCHEMA_VERSION
    assert data["supervise"] == {"cycles": 10, "busy_cycles": 4, "busy_share": 0.4, "seconds": 0.5}
    assert data["duplicates"]["count"] == 0
    assert data["tasks"] == {"added": 2}
    assert {a["name"] for a in data["agents"]} == {"flaky", "hung", "ok", "idle"}
    assert len(data["kills"]) == 3 and data["kills"][0]["by"] == "supervisor"


def test_text_names_what_needs_eyes() -> None:
    text = render_text(build(cycles=report.Cycles(10, 4, 0.5)))
    assert "flaky: gave up after 1 respawns" in text
    assert "open alerts: 1" in text
    assert "supervise: 10 cycles, 4 did work (40%)" in text
    assert "duplicates: 0" in text
    assert "signal 9" in text and "by supervisor (idle)" in text
    assert "tasks:" not in text  # no task board yet: no task section
