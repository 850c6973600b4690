"""An overnight run, time-compressed: one pool of 3 slots on a real git repo with a real gate, a
backlog whose agents succeed, fail, hang silently, overrun, or leave work the gate rejects; the
supervise loop runs it while cron's `reconcile` passes come by. In the morning every task is in
the state its behaviour calls for, no task ran more often than its attempts allow (nor twice at
once), and `report --json` says what `events --json` says, count by count."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

AGENT = Path(__file__).with_name("overnight_agent.py")
POOL = "night"
FINAL = {"done", "failed", "needs-review", "needs-human", "cancelled"}
CRON_EVERY = 4.0  # seconds between the "cron" reconcile passes


# What each behaviour (see overnight_agent.py) ends in with max_attempts = 2: the final state,
# how many runs, and how those runs ended.
@pytest.fixture
def outcomes() -> dict[str, dict[str, object]]:
    return {
        "ok": {"state": "done", "runs": 1, "clean": 1},
        "review": {"state": "needs-review", "runs": 1, "clean": 1, "gate": 1},
        "fail": {"state": "needs-human", "runs": 2, "crash": 2, "requeue": 1},
        "flaky": {"state": "done", "runs": 2, "crash": 1, "clean": 1, "requeue": 1},
        "hang": {"state": "needs-human", "runs": 2, "idle": 2, "requeue": 1},
        "hang-once": {"state": "done", "runs": 2, "idle": 1, "clean": 1, "requeue": 1},
        "overrun": {"state": "needs-human", "runs": 2, "wall": 2, "requeue": 1},
        "give-up": {"state": "failed", "runs": 1, "clean": 1},
    }


FULL = {"ok": 28, "review": 5, "fail": 4, "flaky": 4, "hang": 3, "hang-once": 2, "overrun": 2, "give-up": 2}  # 50
SMALL = {"ok": 4, "review": 2, "fail": 1, "flaky": 1, "hang": 1, "hang-once": 1, "overrun": 1, "give-up": 1}


def backlog(mix: dict[str, int]) -> list[str]:
    """Titles in an overnight order: the behaviours interleaved, not grouped."""
    left = dict(mix)
    titles: list[str] = []
    while any(left.values()):
        for kind in mix:
            if left[kind]:
                left[kind] -= 1
                titles.append(f"task {len(titles) + 1} [{kind}]")
    return titles


def git_repo(path: Path) -> Path:
    git = ["git", "-C", str(path), "-c", "user.email=t@t", "-c", "user.name=t"]
    path.mkdir()
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "README").write_text("the project the night works on\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    return path


def row_of(agent: str | None) -> str | None:
    return agent.split(".", 1)[0] if agent else None


def from_events(events: list[dict[str, object]], pool: str) -> dict[str, int]:
    """The pool's report row and task changes, counted here from `events --json`, event by event."""
    mine = [e for e in events if row_of(e["agent"]) == pool]  # type: ignore[arg-type]
    data = [(e, e["data"]) for e in mine]
    settled = [
        (e, d)
        for e, d in data
        if e["kind"] in ("task-done", "task-requeued", "task-needs-review", "task-needs-human", "task-failed")
    ]
    # A run whose task was already settled (its agent ran `task fail`) ends with its own event.
    ends = settled + [(e, d) for e, d in data if e["kind"] == "exited"]
    killed = [d for e, d in data if e["kind"] == "task-killed"]
    stopped = [d for e, d in data if e["kind"] == "killed"]  # by `down`
    started = [d for e, d in data if e["kind"] == "task-started"]
    return {
        "runs_started": len(started),
        "respawns": sum(d["attempt"] > 1 for d in started),  # type: ignore[index,operator]
        "clean_exits": sum(d.get("exit_code") == 0 for _, d in ends),  # type: ignore[attr-defined]
        "crashes": sum(
            d.get("exit_signal") is not None or d.get("exit_code") not in (None, 0)  # type: ignore[attr-defined]
            for _, d in ends
        ),
        "gate_failures": sum(d.get("gate_code") not in (None, 0) for _, d in settled),  # type: ignore[attr-defined]
        "kills": len(killed) + len(stopped),
        "timeouts": sum(d["why"] == "wall" for d in killed),  # type: ignore[index]
        "stalls": sum(d["why"] == "idle" for d in killed),  # type: ignore[index]
        "start_failures": sum(d["why"] == "start" for d in killed),  # type: ignore[index]
        "alerts": sum(e["kind"] == "alert" for e in mine),
        "requeued": sum(e["kind"] == "task-requeued" for e in mine),
        "needs_review": sum(e["kind"] == "task-needs-review" for e in mine),
        "needs_human": sum(e["kind"] == "task-needs-human" for e in mine),
        "done": sum(e["kind"] == "task-done" for e in mine),
        "failed": sum(e["kind"] == "task-failed" for e in mine),
    }


def designed(mix: dict[str, int], outcomes: dict[str, dict[str, object]]) -> dict[str, int]:
    """The same counts as the behaviours call for them."""

    def total(key: str) -> int:
        return sum(n * int(outcomes[kind].get(key, 0)) for kind, n in mix.items())  # type: ignore[call-overload]

    states = Counter[str]()
    for kind, n in mix.items():
        states[str(outcomes[kind]["state"])] += n
    runs = total("runs")
    return {
        "runs_started": runs,
        "respawns": runs - sum(mix.values()),
        "clean_exits": total("clean"),
        "crashes": total("crash"),
        "gate_failures": total("gate"),
        "kills": total("idle") + total("wall"),
        "timeouts": total("wall"),
        "stalls": total("idle"),
        "start_failures": 0,
        "alerts": states["needs-human"],  # one needs-human alert per task, nothing else
        "requeued": total("requeue"),
        "needs_review": states["needs-review"],
        "needs_human": states["needs-human"],
        "done": states["done"],
        "failed": states["failed"],
    }


def overnight(
    h: FleetHarness,
    tmp_path: Path,
    mix: dict[str, int],
    outcomes: dict[str, dict[str, object]],
    deadline: float,
    interrupt: bool = False,
) -> dict[str, int]:
    """Run the night; with `interrupt`, someone runs `down` and `up` while an [overrun] task runs
    its last attempt. Returns the report's row for the pool."""
    repo = git_repo(tmp_path / "repo")
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    h.write(
        f"""
    [pools.{POOL}]
    command = "{sys.executable} -S {AGENT}"
    slots = 3
    workspace = "worktree"
    repo = "{repo}"
    gate = "grep -qx ok RESULT"
    max_attempts = 2
    wall_timeout = "4s"
    idle_timeout = "2s"
    stop_timeout = "1s"
    lease = "3s"
    breaker_threshold = 1000

    [pools.{POOL}.env]
    OVERNIGHT_LEDGER = "{ledger}"
    """,
        supervisor=True,
    )
    began = time.time()
    assert h.run("up").code == 0
    titles = backlog(mix)
    (tmp_path / "backlog.jsonl").write_text("".join(json.dumps({"title": t}) + "\n" for t in titles))
    assert h.run("task", "import", str(tmp_path / "backlog.jsonl")).code == 0

    cron = {"next": time.monotonic() + CRON_EVERY, "passes": 0, "interrupted": 0}
    busiest = 0

    def morning() -> bool:
        nonlocal busiest
        panes = h.tmux("list-panes", "-s", "-F", "#{window_name} #{pane_dead}").splitlines()
        busiest = max(busiest, sum(1 for p in panes if p.startswith(f"{POOL}.") and p.endswith(" 0")))
        if time.monotonic() >= cron["next"]:  # cron's reconcile beside the supervise loop
            result = h.run("reconcile")
            assert result.code in (0, 3), result
            cron["next"], cron["passes"] = time.monotonic() + CRON_EVERY, cron["passes"] + 1
        tasks = json.loads(h.run("task", "list", "--json").out)
        final = sum(t["state"] in FINAL for t in tasks)
        ran = set((ledger / "runs").read_text().splitlines()) if (ledger / "runs").exists() else set()
        last = [t for t in tasks if "[overrun]" in t["title"] and t["state"] == "running" and f"{t['id']} 2" in ran]
        if interrupt and not cron["interrupted"] and last:
            assert h.run("down").code == 0  # a person stops the fleet in the night, then starts it again
            assert h.run("up").code == 0
            cron["interrupted"] = last[0]["id"]
        return len(tasks) == len(titles) and final == len(titles)

    wait_for(morning, timeout=deadline, interval=0.25, what="every task final", explain=h.explain)
    assert cron["passes"] >= 1
    assert h.run("down").code == 0  # the morning: stop the fleet, then read what happened

    # Every task ended as its behaviour calls for, after exactly the runs it allows, never two at once.
    tasks = {t["id"]: t for t in json.loads(h.run("task", "list", "--json").out)}
    runs = Counter(line.split()[0] for line in (ledger / "runs").read_text().splitlines())
    attempts = Counter(line for line in (ledger / "runs").read_text().splitlines())
    assert set(attempts.values()) == {1}, attempts  # no attempt of a task ran twice
    assert not (ledger / "duplicates").exists(), (ledger / "duplicates").read_text()
    assert 0 < busiest <= 3  # never more live task windows than slots
    stopped = Counter(e.agent for e in h.fleet().store.events() if e.kind == "killed" and e.data.get("by") == "down")
    for tid, title in enumerate(titles, start=1):
        kind = title.split("[", 1)[1].rstrip("]")
        want, got, stops = outcomes[kind], tasks[tid], stopped[f"{POOL}.{tid}"]
        # A run stopped by `down` is not one of the task's attempts (and may have been stopped before its
        # agent began); the others never exceed max_attempts.
        assert got["state"] == want["state"] and got["attempt"] - stops <= runs[str(tid)] <= got["attempt"], (
            title,
            got,
            h.run("events", "--agent", f"{POOL}.{tid}", "--json").out,
        )
        assert got["attempt"] - stops <= 2, (title, got, stops)
        if kind not in ("flaky", "hang-once"):  # these two behave by attempt number, not by budget
            assert got["attempt"] == want["runs"] + stops, (
                title,
                got,
                stops,
                h.run("events", "--agent", f"{POOL}.{tid}", "--json").out,
            )
    if interrupt:  # its last attempt was stopped, not failed: it had one more, and says so
        overran = tasks[cron["interrupted"]]
        assert stopped[f"{POOL}.{overran['id']}"] == 1 and overran["attempt"] == 3, overran
        assert str(overran["reason"]).startswith("2 of 2 attempts failed; last: wall"), overran

    # The report says what the events say, for the pool and in total, and what the night was designed to be.
    lines = h.run("events", "--since", "1h", "--json").out.splitlines()
    events = [json.loads(line) for line in lines]
    assert events and all(e["time"] >= began - 1 for e in events)
    result = h.run("report", "--since", "1h", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    counted = from_events(events, POOL)
    if not interrupt:
        assert counted == designed(mix, outcomes)
    rows = {a["name"]: a for a in report["agents"]}
    assert set(rows) == {POOL}, rows  # the pool's task windows are one row; no agent ran
    row = rows[POOL]
    assert row["pool"] is True
    ended = {"requeued": "requeued", "needs_review": "needs-review", "needs_human": "needs-human", "done": "done"}
    ended["failed"] = "failed"
    said = {k: row[k] for k in counted if k in row} | {k: row["tasks"].get(v, 0) for k, v in ended.items()}
    assert said == counted  # the pool's row
    tasks_said = report["tasks"]
    assert {k: tasks_said[v] for k, v in ended.items()} == {k: counted[k] for k in ended}  # the whole fleet
    assert row["runs_started"] == row["clean_exits"] + row["crashes"] + row["kills"]  # each run ended once
    by = Counter(str(e["data"].get("by", "dispatch")) for e in events if e["kind"] in ("task-killed", "killed"))
    assert row["kills_by"] == dict(by)
    assert row["rate_limited"] == row["auth"] == 0
    totals = report["totals"]
    assert {k: totals[k] for k in totals} == {k: row[k] for k in totals}
    assert report["events_by_kind"] == dict(sorted(Counter(str(e["kind"]) for e in events).items()))
    assert tasks_said["added"] == len(titles)
    board = {state: n for state, n in report["task_states"].items() if n}
    assert board == dict(Counter(str(t["state"]) for t in tasks.values()))

    # The incident lists name the same runs as the events, one by one.
    killed = [e for e in events if e["kind"] == "task-killed"]
    for listed, why in (("timeouts", "wall"), ("stalls", "idle")):
        assert sorted(i["run"] for i in report[listed]) == sorted(
            e["data"]["run"] for e in killed if e["data"]["why"] == why
        )
    ended = [e for e in events if e["kind"] in ("task-killed", "killed")]
    assert sorted(i["run"] for i in report["kills"]) == sorted(e["data"]["run"] for e in ended)
    crashed = [e for e in events if e["kind"].startswith("task-") and e["data"].get("exit_code") not in (None, 0)]
    assert sorted(i["run"] for i in report["crashes"]) == sorted(e["data"]["run"] for e in crashed)
    alerts = [e for e in events if e["kind"] == "alert"]
    assert sorted(i["time"] for i in report["alerts"]) == sorted(e["time"] for e in alerts)
    assert report["duplicates"] == {"count": 0, "details": []}
    assert report["supervise"]["cycles"] > 0 and report["supervise"]["busy_cycles"] > 0

    # The table a person reads in the morning says the same.
    text = h.run("report", "--since", "1h").out.splitlines()
    header = next(line for line in text if line.startswith("AGENT")).split()[1:]
    cells = dict(
        zip(header, next(line for line in text if line.startswith(f"{POOL} (pool)")).split()[2:], strict=False)
    )
    columns = {"RUNS": "runs_started", "CLEAN": "clean_exits", "CRASHES": "crashes", "STALLS": "stalls"}
    columns["TIMEOUTS"] = "timeouts"  # (the KILLS cell that follows has spaces)
    assert {c: int(cells[c]) for c in columns} == {c: row[k] for c, k in columns.items()}
    ended_line = ", ".join(f"{k} {v}" for k, v in sorted(row["tasks"].items()))
    assert f"{POOL} (pool) attempts ended: {ended_line}" in text
    return dict(row)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_fifty_tasks_overnight_report_what_the_events_show(
    fleet_dir: FleetHarness, tmp_path: Path, outcomes: dict[str, dict[str, object]]
) -> None:
    overnight(fleet_dir, tmp_path, FULL, outcomes, deadline=160)


@pytest.mark.timeout(90)
def test_a_night_interrupted_by_down_and_up_still_counts_right(
    fleet_dir: FleetHarness, tmp_path: Path, outcomes: dict[str, dict[str, object]]
) -> None:
    row = overnight(fleet_dir, tmp_path, SMALL, outcomes, deadline=70, interrupt=True)
    assert row["kills_by"].get("down", 0) >= 1, row  # type: ignore[attr-defined]
