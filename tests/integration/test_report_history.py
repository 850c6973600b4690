"""`report` against a fleet whose history is known: a pool that really ran 9 tasks (5 clean,
2 crashes, 2 wall kills), an agent that was rate limited and one refused for auth. The report
(text and --json) says what the events say, one column per way a run ended."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from fleetctl.model import Event
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

FINAL = {"done", "failed", "needs-review", "needs-human", "cancelled"}
# Tasks 1-5 succeed, 6-7 crash, 8-9 hang until wall_timeout kills them.
FIXER = "case {task_id} in [1-5]) exit 0;; [67]) echo boom; exit 3;; *) exec sleep 60;; esac"


def expected(events: list[Event], pool: str) -> dict[str, int]:
    """The pool's row, counted straight from the events `fleetctl events` lists."""
    mine = [e for e in events if (e.agent or "").startswith(pool + ".")]
    settled = [e for e in mine if e.kind in ("task-done", "task-requeued", "task-needs-human", "task-needs-review")]
    crashed = [e for e in settled if e.data.get("exit_signal") is not None or e.data.get("exit_code") not in (None, 0)]
    return {
        "runs_started": sum(e.kind == "task-started" for e in mine),
        "clean_exits": sum(e.data.get("exit_code") == 0 for e in settled),
        "crashes": len(crashed),
        "timeouts": sum(e.kind == "task-killed" and e.data.get("why") == "wall" for e in mine),
        "kills": sum(e.kind == "task-killed" for e in mine),
    }


@pytest.mark.timeout(90)
def test_report_counts_what_the_events_show(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        f"""
    [agents.limited]
    command = "echo 'error: rate limit reached, try later'; sleep 0.3; exit 1"
    min_uptime = "0.1s"
    max_respawns = 0

    [agents.locked]
    command = "echo 'error: 401 unauthorized'; sleep 0.3; exit 1"
    min_uptime = "0.1s"
    max_respawns = 0

    [pools.fix]
    command = "{FIXER}"
    slots = 3
    max_attempts = 1
    wall_timeout = "1s"
    stop_timeout = "1s"
    """,
        supervisor=True,
    )
    fleet_dir.run("up")
    for i in range(1, 10):
        assert fleet_dir.run("task", "add", f"task {i}").code == 0

    def all_final() -> bool:
        tasks = json.loads(fleet_dir.run("task", "list", "--json").out)
        return len(tasks) == 9 and all(t["state"] in FINAL for t in tasks)

    wait_for(all_final, timeout=60, what="every task final")
    ends = {"limited": "rate-limited", "locked": "auth"}
    wait_for(
        lambda: all(
            any(e.kind in ("exited", "start-failed") and e.agent == a for e in fleet_dir.fleet().store.events())
            for a in ends
        ),
        timeout=20,
        what="both agents' ends",
    )

    result = fleet_dir.run("report", "--since", "10m", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    events = fleet_dir.fleet().store.events()
    rows = {a["name"]: a for a in data["agents"]}
    fix = rows["fix"]
    assert fix["pool"] is True
    assert {k: fix[k] for k in expected(events, "fix")} == expected(events, "fix")
    assert (fix["runs_started"], fix["clean_exits"], fix["crashes"], fix["timeouts"], fix["kills"]) == (9, 5, 2, 2, 2)
    assert fix["kills_by"] == {"dispatch": 2} and fix["rate_limited"] == fix["auth"] == 0
    for agent, cls in ends.items():
        ended = [e for e in events if e.agent == agent and e.kind in ("exited", "start-failed")]
        assert {e.data["class"] for e in ended} == {cls}, ended
        key = cls.replace("-", "_")
        assert rows[agent][key] == len(ended) >= 1 and rows[agent]["crashes"] == 0
    assert data["events_by_kind"] == dict(sorted(Counter(e.kind for e in events).items()))
    assert data["tasks"]["done"] == 5 and data["tasks"]["needs-human"] == 4
    assert sorted(i["agent"] for i in data["timeouts"]) == ["fix.8", "fix.9"]
    assert sorted(i["agent"] for i in data["crashes"]) == ["fix.6", "fix.7"]
    cycles = data["supervise"]
    assert cycles["cycles"] > 0 and cycles["busy_cycles"] > 0  # dispatching and settling is work

    text = fleet_dir.run("report", "--since", "10m").out
    header = next(line for line in text.splitlines() if line.startswith("AGENT"))
    line = next(line for line in text.splitlines() if line.startswith("fix (pool)"))
    cells = dict(zip(header.split()[1:], line.split()[2:], strict=False))
    assert (cells["RUNS"], cells["CLEAN"], cells["CRASHES"], cells["TIMEOUTS"]) == ("9", "5", "2", "2")
    said = re.search(r"supervise: (\d+) cycles, (\d+) did work", text)
    assert said is not None  # the loop still runs: the text, read later, has counted as many or more
    assert int(said[1]) >= cycles["cycles"] and int(said[2]) >= cycles["busy_cycles"]
    assert fleet_dir.run("down").code == 0


def test_a_cycle_that_dispatched_or_settled_tasks_did_work(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        """
    [pools.fix]
    command = "exit 0"
    slots = 2
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    for i in range(1, 4):
        assert fleet_dir.run("task", "add", f"task {i}").code == 0

    def done() -> bool:
        return all(t["state"] == "done" for t in json.loads(fleet_dir.run("task", "list", "--json").out))

    wait_for(done, timeout=30, what="every task done")
    cycles = json.loads(fleet_dir.run("report", "--json").out)["supervise"]
    assert cycles["busy_cycles"] >= 2, cycles  # one claimed at least, one settled at least: no agent acted
    assert fleet_dir.run("down").code == 0
