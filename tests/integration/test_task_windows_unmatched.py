"""A task no pool can take is never silent: `task add`/`import` warn, `status` and `report`
count it, `doctor` lists it. Real CLI, real SQLite, a real (idle) tmux check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux


def test_tasks_no_pool_takes_are_warned_counted_and_listed(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    fleet_dir.write("""
    [pools.fix]
    command = "exit 0"
    labels = ["bug"]
    """)
    taken = fleet_dir.run("task", "add", "a crash", "--label", "bug")
    assert taken.code == 0 and taken.err == ""
    lost = fleet_dir.run("task", "add", "write the docs", "--label", "docs")
    assert lost.code == 0 and lost.out.strip() == "2"
    assert lost.err.strip() == "warning: task 2: no pool takes its labels (docs); fix takes bug; it stays queued"
    backlog = tmp_path / "backlog.jsonl"
    lines = [{"title": "also a bug", "labels": ["bug"]}, {"title": "unlabelled"}]
    backlog.write_text("".join(json.dumps(x) + "\n" for x in lines))
    imported = fleet_dir.run("task", "import", str(backlog))
    assert imported.code == 0 and imported.out.split() == ["3", "4"]
    assert imported.err.strip() == "warning: task 4: no pool takes its labels (none); fix takes bug; it stays queued"

    status = fleet_dir.run("status")
    assert "tasks no pool can take: 2 (ids 2, 4; see `fleetctl doctor`)" in status.out

    report = fleet_dir.run("report", "--json")
    assert report.code == 0 and json.loads(report.out)["unmatched_tasks"] == {"count": 2, "ids": [2, 4]}
    assert "tasks no pool can take: 2 (ids 2, 4" in fleet_dir.run("report").out

    doctor = fleet_dir.run("doctor", "--json")
    assert doctor.code == 1
    checks = {c["check"]: c for c in json.loads(doctor.out)}
    assert not checks["tasks"]["ok"]
    assert checks["tasks"]["detail"].startswith("2 queued task(s) no pool takes: task 2: no pool takes its labels")
    assert "task 4: no pool takes its labels (none)" in checks["tasks"]["detail"]

    assert fleet_dir.run("task", "cancel", "2").code == 0 and fleet_dir.run("task", "cancel", "4").code == 0
    doctor = fleet_dir.run("doctor", "--json")
    assert doctor.code == 0, doctor
    assert {c["check"]: c["ok"] for c in json.loads(doctor.out)}["tasks"] is True
    assert "no pool can take" not in fleet_dir.run("status").out


def test_a_fleet_without_pools_does_not_warn(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("""
    [agents.a]
    command = "sleep 30"
    """)
    added = fleet_dir.run("task", "add", "for whoever calls task next", "--label", "docs")
    assert added.code == 0 and added.err == ""
    assert "no pool can take" not in fleet_dir.run("status").out
