"""`fleetctl store check` and `store recover` on real damaged database files: the backlog survives."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from fleetctl.store import StateStore
from fleetctl.store.tasks import NewTask
from tests.conftest import FleetHarness

TASKS = 2000
AGENT = """
[agents.a]
command = "sleep 300"
"""


def backlog(h: FleetHarness) -> Path:
    """A fleet whose database holds TASKS queued tasks, all in the main file."""
    h.write(AGENT)
    store = StateStore(h.state_dir())
    store.add_tasks([NewTask(title=f"task {i}", body="x" * 400) for i in range(TASKS)], now=1.0)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    assert len(json.loads(h.run("task", "list", "--json").out)) == TASKS
    return store.path


def overwrite_pages(db: Path) -> None:
    data = bytearray(db.read_bytes())
    rng = random.Random(5)
    data[200_000:240_000] = bytes(rng.randrange(256) for _ in range(40_000))
    db.write_bytes(bytes(data))


def test_check_and_recover_keep_the_readable_backlog(fleet_dir: FleetHarness) -> None:
    db = backlog(fleet_dir)
    sound = fleet_dir.run("store", "check")
    assert sound.code == 0 and "ok" in sound.out, sound
    overwrite_pages(db)

    check = fleet_dir.run("store", "check")
    assert check.code == 1, check
    assert "damaged" in check.out and "store recover" in check.err

    recover = fleet_dir.run("store", "recover")
    assert recover.code in (0, 1), recover  # 1: some rows were unreadable, and listed
    assert "recovered" in recover.out
    kept = [p for p in db.parent.glob("fleet.db.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1  # the damaged file is kept, never discarded
    assert fleet_dir.run("store", "check").code == 0
    listed = fleet_dir.run("task", "list", "--json")
    assert listed.code == 0, listed
    titles = {t["title"] for t in json.loads(listed.out)}
    assert len(titles) >= TASKS * 8 // 10, len(titles)  # 40 KB of 900 KB lost: most tasks survive
    assert titles <= {f"task {i}" for i in range(TASKS)}


def test_recover_into_leaves_the_database_alone(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    db = backlog(fleet_dir)
    overwrite_pages(db)
    before = db.read_bytes()
    into = tmp_path / "saved.db"
    result = fleet_dir.run("store", "recover", "--into", str(into))
    assert result.code in (0, 1), result
    assert db.read_bytes() == before
    with sqlite3.connect(into) as conn:
        count = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    assert count >= TASKS * 8 // 10
    assert fleet_dir.run("store", "check").code == 1  # fleet.db is still the damaged one


@pytest.mark.parametrize("command", [("status",), ("task", "list")])
def test_an_empty_database_is_reported_as_empty_with_store_advice(
    fleet_dir: FleetHarness, command: tuple[str, ...]
) -> None:
    db = backlog(fleet_dir)
    db.write_bytes(b"")
    result = fleet_dir.run(*command)
    assert result.code == 2
    assert "empty file (0 bytes)" in result.err and "locked" not in result.err
    assert "store recover" in result.err and "mv " not in result.err

    recover = fleet_dir.run("store", "recover")
    assert "recovered 0 rows" in recover.out
    assert fleet_dir.run(*command).code == 0
