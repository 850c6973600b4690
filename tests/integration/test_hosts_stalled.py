"""A host that stalls past its lease (its supervisor blocked, its task window still working)
loses the task to another host, and when it resumes it kills its window instead of letting it
work on beside the new claim, and never extends the new holder's lease."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from fleetctl.store.state import LOCK_NAME
from tests.conftest import wait_for
from tests.hosts import Host, cleaned_up, rows

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

POOL = '[pools.coder]\ncommand = "sleep 120"\nslots = 1\nlease = "4s"\n'


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> Iterator[list[Host]]:
    fleet = f"t{uuid.uuid4().hex[:8]}"
    yield from cleaned_up(
        [Host(tmp_path, fleet, h, pg_url, POOL, fleet_extra='heartbeat = "1s"\n') for h in ("h1", "h2")]
    )


@pytest.mark.timeout(120)
def test_a_host_that_stalled_past_its_lease_kills_its_window_when_it_resumes(
    hosts: list[Host], pg_url: str, tmp_path: Path
) -> None:
    h1, h2 = hosts
    assert h1.cli("up").returncode == 0
    backlog = tmp_path / "one.jsonl"
    backlog.write_text(json.dumps({"title": "long work"}) + "\n")
    assert h1.cli("task", "import", str(backlog)).returncode == 0

    def running_on(host: str) -> tuple[str, int] | None:
        found = rows(
            pg_url,
            "SELECT agent, attempt FROM tasks WHERE state = 'running' AND host = %s AND run_id IS NOT NULL",
            (host,),
        )
        return (str(found[0][0]), int(str(found[0][1]))) if found else None

    agent1, attempt1 = wait_for(lambda: running_on("h1"), timeout=30, what="h1 running the task")
    first = wait_for(lambda: h1.window_pid(agent1), timeout=10, what="h1's task window")
    # h1 stalls: a long command holds its fleet lock, so no pass renews the lease while its
    # window works on. (SIGSTOP would not do: tmux continues a pane's stopped process.)
    lock = os.open(h1.path.parent / ".fleet" / LOCK_NAME, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        assert h2.cli("up").returncode == 0
        agent2, attempt2 = wait_for(lambda: running_on("h2"), timeout=30, what="h2 taking the task over")
        second = wait_for(lambda: h2.window_pid(agent2), timeout=10, what="h2's task window")
        assert attempt2 == attempt1 + 1 and psutil.pid_exists(first)  # both work on it while h1 stalls
        (lease,) = rows(pg_url, "SELECT lease_until FROM tasks")[0]
    finally:
        os.close(lock)
    wait_for(lambda: not psutil.pid_exists(first), timeout=20, what="h1 killing its lost window")
    shown = [json.loads(line) for line in h1.cli("events", "--host", "h1", "--json").stdout.splitlines()]
    lost = [e for e in shown if e["kind"] == "task-killed"]
    assert [e["data"]["why"] for e in lost] == ["lost"], shown
    # h2's run goes on untouched, and the task is still its attempt, with no second settling.
    assert h2.window_pid(agent2) == second and psutil.pid_exists(second)
    (state, attempt, host) = rows(pg_url, "SELECT state, attempt, host FROM tasks")[0]
    assert (state, attempt, host) == ("running", attempt2, "h2")

    def renewed() -> bool:
        (until,) = rows(pg_url, "SELECT lease_until FROM tasks")[0]
        return float(str(until)) > float(str(lease))

    wait_for(renewed, timeout=10, what="h2 renewing the lease it holds")  # its lease stays its own
    settled = rows(
        pg_url,
        "SELECT kind, host FROM events WHERE kind IN "
        "('task-done', 'task-requeued', 'task-needs-review', 'task-needs-human', 'task-failed')",
    )
    assert settled == [("task-requeued", "h2")], settled
