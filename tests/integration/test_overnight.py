"""An overnight run, time-compressed: 50 tasks on a pool of 3 slots with a real git repository,
worktrees and a gate, under the supervise loop. Some tasks succeed, some crash on every
attempt, some hang until their wall timeout, a few leave work whose gate fails. Every task ends
where it should, none runs more often than its attempts allow, and `report --json` says what
`events` shows, count by count."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from fleetctl.model import Event
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

TASKS = 50
FINAL = {"done", "failed", "needs-review", "needs-human", "cancelled"}
# By the task id's last digit: 6 crashes (exit 3), 7 hangs (wall kill), 8 writes the file the
# gate refuses (needs review); the rest write their file and exit 0.
AGENT = (
    "case {task_id} in"
    " *6) echo 'boom: the build broke'; exit 3;;"
    " *7) exec sleep 60;;"
    " *8) echo bad > {workspace}/BROKEN; exit 0;;"
    " *) echo ok > {workspace}/done-{task_id}; exit 0;;"
    " esac"
)


def kind_of(task_id: int) -> str:
    return {6: "crash", 7: "hang", 8: "review"}.get(task_id % 10, "ok")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args], check=True)


def pool_events(events: list[Event], pool: str) -> list[Event]:
    return [e for e in events if (e.agent or "").startswith(pool + ".")]


@pytest.mark.timeout(240)
def test_fifty_tasks_overnight_end_right_and_report_matches_events(fleet_dir: FleetHarness) -> None:
    repo = fleet_dir.dir / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("overnight\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "init")
    fleet_dir.write(
        f"""
    [pools.night]
    command = "{AGENT}"
    slots = 3
    workspace = "worktree"
    repo = "{repo}"
    gate = "test ! -e BROKEN"
    max_attempts = 2
    wall_timeout = "1.5s"
    stop_timeout = "0.5s"
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    for n in range(1, TASKS + 1):
        assert fleet_dir.run("task", "add", f"task {n}").code == 0

    def final() -> list[dict[str, object]] | None:
        tasks = json.loads(fleet_dir.run("task", "list", "--json").out)
        return tasks if len(tasks) == TASKS and all(t["state"] in FINAL for t in tasks) else None

    tasks = wait_for(final, timeout=200, interval=0.5, what="every task final", explain=fleet_dir.explain)
    assert isinstance(tasks, list)
    want = {"ok": ("done", 1), "crash": ("needs-human", 2), "hang": ("needs-human", 2), "review": ("needs-review", 1)}
    got = {t["id"]: (t["state"], t["attempt"]) for t in tasks}  # type: ignore[index]
    assert got == {n: want[kind_of(n)] for n in range(1, TASKS + 1)}

    events = fleet_dir.fleet().store.events()
    mine = pool_events(events, "night")
    started = Counter(int(str(e.agent).split(".")[1]) for e in mine if e.kind == "task-started")
    assert started == {n: want[kind_of(n)][1] for n in range(1, TASKS + 1)}, "a task ran more often than allowed"
    ok_work = [n for n in range(1, TASKS + 1) if kind_of(n) == "ok"]
    assert len(ok_work) == 35

    result = fleet_dir.run("report", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    row = next(a for a in report["agents"] if a["name"] == "night")
    settled = [e for e in mine if e.kind in ("task-done", "task-requeued", "task-needs-human", "task-needs-review")]
    from_events = {
        "runs_started": sum(e.kind == "task-started" for e in mine),
        "clean_exits": sum(e.data.get("exit_code") == 0 for e in settled),
        "crashes": sum(
            e.data.get("exit_signal") is not None or e.data.get("exit_code") not in (None, 0) for e in settled
        ),
        "timeouts": sum(e.kind == "task-killed" and e.data.get("why") == "wall" for e in mine),
        "kills": sum(e.kind == "task-killed" for e in mine),
    }
    assert {k: row[k] for k in from_events} == from_events
    # And what those events are for this backlog: 35 + 5 + 10 + 10 runs; 5 x 2 crashes; 5 x 2 wall kills.
    assert from_events == {"runs_started": 60, "clean_exits": 40, "crashes": 10, "timeouts": 10, "kills": 10}
    assert report["events_by_kind"] == dict(sorted(Counter(e.kind for e in events).items()))
    states = Counter(str(t["state"]) for t in tasks)  # type: ignore[index]
    assert {k: report["tasks"].get(k, 0) for k in states} == dict(states)
    assert sorted(i["agent"] for i in report["timeouts"]) == sorted(
        f"night.{n}" for n in range(1, TASKS + 1) for _ in range(2) if kind_of(n) == "hang"
    )
    assert sorted(i["agent"] for i in report["crashes"]) == sorted(
        f"night.{n}" for n in range(1, TASKS + 1) for _ in range(2) if kind_of(n) == "crash"
    )
    # The work of a task that was done is on its branch; a needs-review task's is kept for review.
    shown = json.loads(fleet_dir.run("task", "show", "1", "--json").out)
    assert shown["state"] == "done" and shown.get("branch")
    assert fleet_dir.run("down").code == 0
