"""`task import` with acceptance criteria: the agent's task file carries them, `task show` shows
them, and a bad `acceptance` value is one clear line that imports nothing. Real git, a real gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_task_review_accept import make_repo, seen, start_pool, task

pytestmark = pytest.mark.tmux

CRITERIA = "file-1.txt says pass\nno other file changes"


@pytest.mark.timeout(60)
def test_imported_acceptance_criteria_reach_the_agents_task_file(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    log = start_pool(fleet_dir, tmp_path, repo, 'gate = "grep pass file-{task_id}.txt"')
    backlog = tmp_path / "backlog.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"title": "ok"}) + "\n" + json.dumps({"title": "x", "acceptance": ["a", "b"]}) + "\n")
    refused = fleet_dir.run("task", "import", str(bad))
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused
    assert "acceptance" in refused.err and "a string (the acceptance criteria)" in refused.err, refused.err
    assert "Traceback" not in refused.err and json.loads(fleet_dir.run("task", "list", "--json").out) == []

    backlog.write_text(
        json.dumps({"title": "make it pass", "acceptance": f"  {CRITERIA}\n"})
        + "\n"
        + json.dumps({"title": "no criteria pass"})
        + "\n"
    )
    imported = fleet_dir.run("task", "import", str(backlog))
    assert imported.code == 0 and imported.out.split() == ["1", "2"], imported
    wait_for(
        lambda: task(fleet_dir, 1)["state"] == "done" and task(fleet_dir, 2)["state"] == "done",
        timeout=30,
        what="both tasks through their gates",
        explain=fleet_dir.explain,
    )
    (given,) = seen(log, 1)  # the task file the agent was handed, as it read it
    assert (given["title"], given["acceptance"], given["previous_attempts"]) == ("make it pass", CRITERIA, [])
    assert seen(log, 2)[0]["acceptance"] == ""
    assert task(fleet_dir, 1)["acceptance"] == CRITERIA
    text = fleet_dir.run("task", "show", "1").out
    assert f"acceptance:\n{CRITERIA}\n" in text, text
    assert "acceptance:" not in fleet_dir.run("task", "show", "2").out
    assert fleet_dir.run("down").code == 0
