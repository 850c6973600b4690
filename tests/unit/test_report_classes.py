"""report: pools' task windows are counted, one column per way a run ends, from known events."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fleetctl import report
from fleetctl.cli.report_text import render_text
from fleetctl.fleet import Fleet
from fleetctl.model import Event, FleetSpec, PoolSpec
from fleetctl.tasks import TaskBoard

T0 = 1_800_000_000.0


def ev(i: int, kind: str, agent: str | None, reason: str = "", **data: object) -> Event:
    return Event(time=T0 + i, kind=kind, agent=agent, reason=reason, data=data, id=i + 1)


def settled(
    i: int, kind: str, task: int, attempt: int, code: int | None, sig: int | None = None, **more: object
) -> Event:
    return ev(i, kind, f"fix.{task}", "", task=task, attempt=attempt, exit_code=code, exit_signal=sig, **more)


# A pool night: 9 runs (task windows), 2 crashes, 2 wall kills, 1 idle kill, 4 clean exits
# (one of them failed its gate); and an agent that was rate limited once and refused once.
POOL_NIGHT = [
    *(ev(i, "task-started", f"fix.{i}", "t", task=i, attempt=1) for i in range(1, 7)),
    settled(10, "task-done", 1, 1, 0),
    settled(11, "task-done", 2, 1, 0),
    settled(12, "task-needs-review", 3, 1, 0, gate_code=1),
    settled(13, "task-requeued", 4, 1, 1),  # crashed
    ev(14, "task-killed", "fix.5", "wall: ran 2s", task=5, attempt=1, run="r5", why="wall"),
    settled(15, "task-requeued", 5, 1, None),
    ev(16, "task-killed", "fix.6", "idle: no output", task=6, attempt=1, run="r6", why="idle"),
    settled(17, "task-requeued", 6, 1, None),
    ev(18, "task-started", "fix.4", "t", task=4, attempt=2),
    ev(19, "task-started", "fix.5", "t", task=5, attempt=2),
    ev(20, "task-started", "fix.6", "t", task=6, attempt=2),
    settled(21, "task-needs-human", 4, 2, None, 9),  # crashed by a signal
    ev(22, "task-killed", "fix.5", "wall: ran 2s", task=5, attempt=2, run="r5b", why="wall"),
    settled(23, "task-needs-human", 5, 2, None),
    settled(24, "task-done", 6, 2, 0),
    ev(25, "alert", "fix.4", "needs-human: task 4", alert="needs-human"),
    ev(30, "spawned", "claude", "not running", run="c1"),
    ev(31, "exited", "claude", "rate limited", run="c1", exit_code=1, exit_signal=None, **{"class": "rate-limited"}),
    ev(32, "respawned", "claude", "rate limited", run="c2"),
    ev(33, "exited", "claude", "login needed", run="c2", exit_code=1, exit_signal=None, **{"class": "auth"}),
    ev(34, "respawned", "claude", "auth", run="c3"),
    ev(35, "exited", "claude", "exited with code 2", run="c3", exit_code=2, exit_signal=None, **{"class": "crashed"}),
]


def build() -> report.Report:
    return report.build("night", T0, T0 + 100, POOL_NIGHT, [], agent_names=["claude"], pool_names=["fix", "docs"])


def test_a_pools_task_windows_are_counted_in_one_row() -> None:
    by = {a.name: a for a in build().agents}
    fix = by["fix"]
    assert fix.pool and not by["claude"].pool
    assert (fix.runs_started, fix.respawns) == (9, 3)
    assert (fix.clean_exits, fix.crashes, fix.gate_failures) == (4, 2, 1)
    assert (fix.kills, fix.timeouts, fix.stalls) == (3, 2, 1)
    assert fix.kills_by == {report.count.TASK_KILLER: 3}
    assert fix.alerts == 1
    assert by["docs"].runs_started == 0  # a quiet pool is listed too


def test_a_pools_row_says_how_its_attempts_ended() -> None:
    r = build()
    fix = {a.name: a for a in r.agents}["fix"]
    assert fix.tasks == {"done": 3, "needs-review": 1, "requeued": 3, "needs-human": 2}
    assert {a["name"]: a["tasks"] for a in r.as_json()["agents"]}["docs"] == {}  # type: ignore[attr-defined,index]
    assert "fix (pool) attempts ended: done 3, needs-human 2, needs-review 1, requeued 3" in render_text(r)


def test_rate_limits_and_auth_failures_are_not_crashes() -> None:
    r = build()
    claude = {a.name: a for a in r.agents}["claude"]
    assert (claude.runs_started, claude.respawns) == (3, 2)
    assert (claude.rate_limited, claude.auth, claude.crashes, claude.clean_exits) == (1, 1, 1, 0)
    assert [i.agent for i in r.crashes] == ["fix.4", "fix.4", "claude"]
    assert [i.detail for i in r.rate_limited] == ["rate limited"]
    assert [i.detail for i in r.auth] == ["login needed"]


def test_json_and_text_show_one_column_per_class() -> None:
    r = build()
    data = json.loads(json.dumps(r.as_json()))
    assert data["totals"] == {
        "runs_started": 12,
        "respawns": 5,
        "clean_exits": 4,
        "crashes": 3,
        "rate_limited": 1,
        "auth": 1,
        "start_failures": 0,
        "stalls": 1,
        "timeouts": 2,
        "kills": 3,
        "gate_failures": 1,
        "alerts": 1,
    }
    assert [k["why"] for k in data["timeouts"]] == ["wall", "wall"]
    text = render_text(r)
    header = next(line for line in text.splitlines() if line.startswith("AGENT"))
    assert header.split() == [
        "AGENT",
        "RUNS",
        "RESPAWNS",
        "CLEAN",
        "CRASHES",
        "RATE-LIMITED",
        "AUTH",
        "START-FAIL",
        "STALLS",
        "TIMEOUTS",
        "KILLS",
        "GATE-FAIL",
        "ALERTS",
        "NOW",
    ]
    fix = next(line for line in text.splitlines() if line.startswith("fix (pool)"))
    assert fix.split()[2:14] == ["9", "3", "4", "2", "0", "0", "0", "1", "2", "3", "(dispatch", "3)"]
    assert "rate limited:" in text and "auth failures:" in text


def _fleet(tmp_path: Path) -> Fleet:
    state = tmp_path / "state"
    spec = FleetSpec(
        name="unit",
        path=tmp_path / "fleet.toml",
        state_dir=state,
        pools=(PoolSpec(name="fix", command="x", labels=("bug",)),),
    )
    return Fleet(spec)


def test_load_counts_the_stored_events_and_tasks_no_pool_takes(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path)
    now = time.time()
    for e in POOL_NIGHT:
        fleet.store.add_event(
            Event(time=now - 50 + (e.time - T0) / 10, kind=e.kind, agent=e.agent, reason=e.reason, data=e.data)
        )
    board = TaskBoard(fleet)
    board.add("a bug", labels=["bug"])
    lost = board.add("some docs", labels=["docs"])
    r = report.load(fleet, now - 60)
    fix = {a.name: a for a in r.agents}["fix"]
    assert (fix.runs_started, fix.crashes, fix.timeouts, fix.clean_exits) == (9, 2, 2, 4)
    assert r.unmatched_tasks == (lost,)
    assert r.as_json()["unmatched_tasks"] == {"count": 1, "ids": [lost]}
    assert f"tasks no pool can take: 1 (ids {lost}" in render_text(r)
