"""Three hosts of one fleet on one machine, sharing a PostgreSQL store: each with its own
`host`, tmux server and state dir. Every task is done exactly once; when one host's
supervisor and tmux server die (kill -9), its tasks are re-queued once their lease runs
out and finished by the other hosts."""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, pids_with_env, wait_for
from tests.hosts import Host, cleaned_up, rows

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

AGENT = f"{sys.executable} {EXAMPLES / 'task_agent.py'} --task-file {{task_file}} --workdir {{workspace}}"
HOSTS = ("h1", "h2", "h3")
TASKS = 24


def pool(ledger: Path) -> str:
    return (
        f'[pools.coder]\ncommand = "{AGENT}"\nslots = 2\nlease = "5s"\n\n'
        f'[pools.coder.env]\nTASK_AGENT_SECONDS = "0.6"\nTASK_AGENT_LEDGER = "{ledger}"\n'
    )


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> Iterator[list[Host]]:
    fleet = f"t{uuid.uuid4().hex[:8]}"
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    yield from cleaned_up(
        [Host(tmp_path, fleet, h, pg_url, pool(ledger), fleet_extra='heartbeat = "1s"\n') for h in HOSTS]
    )


@pytest.mark.timeout(150)
def test_three_hosts_do_every_task_once_and_take_over_a_killed_hosts_tasks(
    hosts: list[Host], pg_url: str, tmp_path: Path
) -> None:
    for h in hosts:
        up = h.cli("up")
        assert up.returncode == 0, up.stderr
        assert "_supervisor" in h.tmux("list-windows", "-F", "#{window_name}").split()  # one server per host
    backlog = tmp_path / "backlog.jsonl"
    backlog.write_text("".join(json.dumps({"title": f"task {i}"}) + "\n" for i in range(TASKS)))
    assert hosts[0].cli("task", "import", str(backlog)).returncode == 0
    wait_for(lambda: len(rows(pg_url, "SELECT name FROM hosts")) == 3, what="every host's first report")
    before = hosts[0].cli("status", "--all", "--json")
    assert before.returncode == 0 and "unreachable" not in before.stdout, before

    def busy_host() -> str | None:
        """The first host seen running a task window becomes the victim: on a loaded machine the
        other hosts may finish the whole backlog before a given host claims anything."""
        found = rows(pg_url, "SELECT host FROM tasks WHERE state = 'running' AND run_id IS NOT NULL LIMIT 1")
        return str(found[0][0]) if found else None

    name = wait_for(
        busy_host,
        timeout=30,
        what="a host running a task window",
        explain=lambda: str(rows(pg_url, "SELECT id, state, host, attempt, reason FROM tasks")),
    )
    victim = next(h for h in hosts if h.name == name)
    others = sorted({h.name for h in hosts} - {victim.name})
    watcher = next(h for h in hosts if h is not victim)
    victim.kill9()
    held = [
        int(str(r[0]))
        for r in rows(pg_url, "SELECT id FROM tasks WHERE state = 'running' AND host = %s", (victim.name,))
    ]
    wait_for(lambda: not pids_with_env("FLEET_HOST", victim.name), timeout=10, what=f"{victim.name}'s agents gone")
    for tid in held:  # their agents died with the host: the ledger marks of the dead runs go too
        with contextlib.suppress(FileNotFoundError):
            (tmp_path / "ledger" / f"{tid}.running").unlink()

    def marked_unreachable() -> dict[str, object] | None:
        found = json.loads(watcher.cli("status", "--all", "--json").stdout)
        return next((r for r in found if r.get("kind") == "host" and r["host"] == victim.name), None)

    mark = wait_for(marked_unreachable, timeout=20, interval=0.5, what="status --all marking the victim unreachable")
    assert isinstance(mark, dict) and mark["state"] == "unreachable" and float(str(mark["last_report_s"])) >= 3
    shown = watcher.cli("status", "--all")
    assert shown.returncode == 3 and f"host {victim.name} unreachable: last report" in shown.stdout, shown

    def all_done() -> bool:
        return rows(pg_url, "SELECT count(*) FROM tasks WHERE state = 'done'") == [(TASKS,)]

    wait_for(
        all_done,
        timeout=100,
        interval=0.5,
        what=f"{TASKS} tasks done",
        explain=lambda: str(rows(pg_url, "SELECT id, state, host, attempt, reason FROM tasks WHERE state <> 'done'")),
    )
    done = rows(pg_url, "SELECT task_id, count(*) FROM task_attempts WHERE outcome = 'done' GROUP BY task_id")
    assert sorted(done) == [(i, 1) for i in range(1, TASKS + 1)]  # each done exactly once
    assert not (tmp_path / "ledger" / "duplicates").exists()  # never two runs of one task at once
    taken_over = rows(
        pg_url,
        "SELECT a.task_id, b.host FROM task_attempts a JOIN task_attempts b ON b.task_id = a.task_id "
        "AND b.outcome = 'done' WHERE a.host = %s AND a.outcome = 'expired'",
        (victim.name,),
    )
    assert held and {int(str(t)) for t, _ in taken_over} == set(held)
    assert {str(h) for _, h in taken_over} <= set(others)
    requeued = rows(
        pg_url,
        "SELECT (data::jsonb->>'task')::int, reason FROM events WHERE kind = 'task-requeued' AND host = ANY(%s)",
        (others,),
    )
    # Each of the victim's tasks went back to the queue through its expired lease. On a loaded
    # machine a living host may stall past a lease of its own and lose that task the same way
    # (its window is then killed, see test_dispatch), so other expiries may appear, none else.
    assert {int(str(t)) for t, _ in requeued} >= set(held), requeued
    assert all(str(r).startswith("lease of ") and str(r).endswith(" expired") for _, r in requeued), requeued
    shown = [json.loads(line) for line in watcher.cli("events", "--host", victim.name, "--json").stdout.splitlines()]
    assert shown and {e["host"] for e in shown} == {victim.name} and "task-claimed" in {e["kind"] for e in shown}
