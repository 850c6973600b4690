"""A large backlog over three hosts of one fleet on one machine, sharing a PostgreSQL store,
each host's pool with 4 slots: every task is done exactly once (one done attempt per task,
one run of each task's command, every host taking a share).

1,000 tasks, as the issue asks (about 35 s on the 2-core machine when quiet); tiny tasks, so
the figure is dispatch and claims, not work. FLEETCTL_MANY_TASKS changes the count.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.hosts import Host, cleaned_up, rows

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

HOSTS = ("h1", "h2", "h3")
TASKS = int(os.environ.get("FLEETCTL_MANY_TASKS", "1000"))
SLOTS = 4


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> Iterator[list[Host]]:
    fleet = f"t{uuid.uuid4().hex[:8]}"
    body = (
        f'[pools.tiny]\ncommand = "echo {{task_id}} $FLEET_HOST >> {tmp_path / "ran"}"\n'
        f'slots = {SLOTS}\nlease = "60s"\n'
    )
    yield from cleaned_up([Host(tmp_path, fleet, h, pg_url, body, fleet_extra='heartbeat = "2s"\n') for h in HOSTS])


@pytest.mark.timeout(300)
def test_every_task_of_a_large_backlog_is_done_once_over_three_hosts(
    hosts: list[Host], tmp_path: Path, pg_url: str
) -> None:
    ledger = tmp_path / "ran"
    backlog = tmp_path / "backlog.jsonl"
    backlog.write_text("".join(json.dumps({"title": f"task {i}"}) + "\n" for i in range(TASKS)))
    started = time.monotonic()
    for host in hosts:
        up = host.cli("up")
        assert up.returncode == 0, up.stderr
    assert hosts[0].cli("task", "import", str(backlog)).returncode == 0

    def done() -> bool:
        return rows(pg_url, "SELECT count(*) FROM tasks WHERE state = 'done'") == [(TASKS,)]

    wait_for(
        done,
        timeout=270,
        interval=1.0,
        what=f"{TASKS} tasks done",
        explain=lambda: str(rows(pg_url, "SELECT state, count(*) FROM tasks GROUP BY state")),
    )
    took = time.monotonic() - started
    print(f"{TASKS} tasks over {len(HOSTS)} hosts x {SLOTS} slots: done in {took:.1f}s ({TASKS / took:.1f}/s)")
    done_attempts = rows(pg_url, "SELECT task_id, count(*) FROM task_attempts WHERE outcome = 'done' GROUP BY 1")
    assert sorted(done_attempts) == [(i, 1) for i in range(1, TASKS + 1)]  # each done exactly once
    assert rows(pg_url, "SELECT count(*) FROM task_attempts") == [(TASKS,)]  # and claimed once
    ran = Counter(line.split()[0] for line in ledger.read_text().splitlines())
    assert sorted(int(t) for t in ran) == list(range(1, TASKS + 1)) and set(ran.values()) == {1}
    share = Counter(line.split()[1] for line in ledger.read_text().splitlines())
    print(f"tasks per host: {dict(sorted(share.items()))}")
    assert set(share) == set(HOSTS)  # every host took part
