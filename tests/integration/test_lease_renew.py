"""Leases an outside claimer keeps: renew, heartbeat renewal, and a lost lease refused clearly."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import FleetHarness, wait_for


def claim(h: FleetHarness, agent: str, *extra: str) -> dict[str, object] | None:
    result = h.run("task", "next", "--agent", agent, *extra)
    assert result.code == 0, result
    return json.loads(result.out)  # type: ignore[no-any-return]


def shown(h: FleetHarness, tid: int) -> dict[str, object]:
    return json.loads(h.run("task", "show", str(tid), "--json").out)  # type: ignore[no-any-return]


@pytest.mark.timeout(60)
def test_a_lease_passed_to_another_claimer_refuses_done_fail_and_renew(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("")
    fleet_dir.run("task", "add", "long job")
    first = claim(fleet_dir, "w1", "--lease", "1s")
    assert first is not None and first["id"] == 1
    # w2 polls for work until w1's lease has run out and the task is queued for it.
    second = wait_for(lambda: claim(fleet_dir, "w2", "--lease", "1h"), timeout=20, what="w1's lease to expire")
    assert isinstance(second, dict) and (second["id"], second["attempt"]) == (1, 2)
    for args in (
        ("done", "1", "--agent", "w1"),
        ("fail", "1", "--agent", "w1", "--reason", "x"),
        ("renew", "1", "--agent", "w1"),
    ):
        late = fleet_dir.run("task", *args)
        assert late.code == 1, (args, late)
        assert late.err.splitlines()[0] == (
            "error: task 1 is held by w2 now (attempt 2), not by w1; nothing was changed"
        ), args
    task = shown(fleet_dir, 1)
    assert (task["state"], task["agent"]) == ("running", "w2")
    attempts = [(a["agent"], a["outcome"]) for a in task["attempts"]]  # type: ignore[union-attr]
    assert attempts == [("w1", "expired"), ("w2", None)]
    assert fleet_dir.run("task", "done", "1", "--agent", "w2", "--result", "ok").code == 0
    assert shown(fleet_dir, 1)["state"] == "done"


@pytest.mark.timeout(60)
def test_renew_and_heartbeat_keep_the_lease(fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet_dir.write("")
    fleet_dir.run("task", "add", "one")
    fleet_dir.run("task", "add", "two")
    one = claim(fleet_dir, "w1", "--lease", "1s")
    assert one is not None
    short = float(one["lease_until"])  # type: ignore[arg-type]
    renewed = fleet_dir.run("task", "renew", "1", "--agent", "w1", "--lease", "1h")
    assert renewed.code == 0 and renewed.out.startswith("task 1 held by w1 until "), renewed
    assert float(shown(fleet_dir, 1)["lease_until"]) > time.time() + 3000  # type: ignore[arg-type]
    two = claim(fleet_dir, "w3", "--lease", "1s")
    assert two is not None and two["id"] == 2
    monkeypatch.setenv("FLEET_AGENT", "w3")
    monkeypatch.setenv("FLEET_TASK", "2")
    assert fleet_dir.run("heartbeat").code == 0  # inside a task window: renews w3's lease on task 2
    assert float(shown(fleet_dir, 2)["lease_until"]) > time.time() + 3000  # type: ignore[arg-type]
    monkeypatch.delenv("FLEET_AGENT")
    monkeypatch.delenv("FLEET_TASK")
    wait_for(lambda: time.time() > short + 0.2, what="the first lease to have passed")
    assert claim(fleet_dir, "w2") is None  # both leases were renewed: nothing to take
    assert [shown(fleet_dir, t)["agent"] for t in (1, 2)] == ["w1", "w3"]
    nobody = fleet_dir.run("task", "renew", "1")
    assert (nobody.code, nobody.err.strip()) == (
        2,
        "error: --agent: expected the agent holding the task (or run inside an agent: FLEET_AGENT)",
    )


@pytest.mark.timeout(60)
def test_a_heartbeat_after_the_lease_passed_says_who_holds_it(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet_dir.write("")
    fleet_dir.run("task", "add", "contested")
    assert claim(fleet_dir, "w1", "--lease", "1s") is not None
    wait_for(lambda: claim(fleet_dir, "w2"), timeout=20, what="w1's lease to expire")
    monkeypatch.setenv("FLEET_TASK", "1")
    monkeypatch.setenv("FLEET_AGENT", "w1")
    late = fleet_dir.run("heartbeat")
    assert late.code == 1 and late.err.startswith("error: task 1 is held by w2 now (attempt 2), not by w1"), late
    monkeypatch.setenv("FLEET_AGENT", "w2")
    assert fleet_dir.run("task", "done").code == 0  # ID and agent from the environment
    assert fleet_dir.run("heartbeat").code == 0  # a settled task has no lease to keep: no error
    assert shown(fleet_dir, 1)["state"] == "done"
