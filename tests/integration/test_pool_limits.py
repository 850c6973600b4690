"""Pool task runs read by the pool's kind: a limit re-queues the task without spending an attempt
and parks the pool until the reset; an auth error pauses the pool with one alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux


def tasks(h: FleetHarness) -> dict[int, dict[str, object]]:
    return {t["id"]: t for t in json.loads(h.run("task", "list", "--json").out)}


def events(h: FleetHarness, kind: str) -> list:  # type: ignore[type-arg]
    return [e for e in h.fleet().store.events() if e.kind == kind]


@pytest.mark.timeout(60)
def test_a_limited_task_run_is_requeued_free_and_the_pool_waits_for_the_reset(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    marker = tmp_path / "limited-once"
    script = tmp_path / "agent.sh"
    script.write_text(
        f"if [ -e {marker} ]; then echo done; exit 0; fi\ntouch {marker}\n"
        "echo 'API Error: Request rejected (429) · This request would exceed the rate limit. "
        "Please try again in 3s.'\nexit 1\n"
    )
    fleet_dir.write(
        f'[pools.coder]\ncommand = "sh {script}"\nkind = "claude"\nmax_attempts = 1\nmin_uptime = "0s"\n',
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("task", "add", "fix the bug").code == 0
    wait_for(
        lambda: tasks(fleet_dir)[1]["state"] == "done", timeout=40, what="the task done", explain=fleet_dir.explain
    )
    # with max_attempts = 1, a spent attempt would have ended the task needs-human
    requeued = events(fleet_dir, "task-requeued")
    assert len(requeued) == 1 and "rate limited" in requeued[0].reason and "no attempt spent" in requeued[0].reason
    parked = events(fleet_dir, "pool-parked")
    assert len(parked) == 1 and "dispatch parked for 3s" in parked[0].reason
    done = next(e for e in events(fleet_dir, "task-done"))
    assert done.time - requeued[0].time >= 2.5  # the pool waited for the reset (3 s), not the 15 min default


@pytest.mark.timeout(60)
def test_an_auth_error_pauses_the_pool_with_one_alert(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    alerts, starts = tmp_path / "alerts", tmp_path / "starts"
    script = tmp_path / "aider.sh"
    # aider's own words after a 401, and its exit code 0
    script.write_text(
        f"echo start >> {starts}\n"
        "echo 'litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided.'\n"
        "echo 'The API provider is not able to authenticate you. Check your API key.'\nexit 0\n"
    )
    fleet_dir.write(
        f'[pools.coder]\ncommand = "sh {script}"\nkind = "aider"\nmax_attempts = 1\nmin_uptime = "0s"\n',
        supervisor=True,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    assert fleet_dir.run("up").code == 0
    for title in ("one", "two", "three"):
        assert fleet_dir.run("task", "add", title).code == 0
    wait_for(lambda: events(fleet_dir, "pool-parked"), timeout=30, what="the pool paused", explain=fleet_dir.explain)
    wait_for(lambda: alerts.exists() and alerts.read_text().strip(), what="the alert")
    for _ in range(3):
        fleet_dir.run("reconcile")
    assert starts.read_text().splitlines() == ["start"]  # one run; the other tasks were never burnt
    assert all(t["state"] == "queued" for t in tasks(fleet_dir).values())
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert len(sent) == 1 and sent[0]["event"] == "auth" and "authenticate" in sent[0]["reason"], sent
