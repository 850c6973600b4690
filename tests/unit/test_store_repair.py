"""`check` and `recover` on real damaged database files: truncated, and with overwritten pages."""

from __future__ import annotations

import hashlib
import random
import shutil
import stat
from pathlib import Path

import pytest

from fleetctl.errors import StoreError
from fleetctl.store import StateStore
from fleetctl.store.repair import check, recover
from fleetctl.store.tasks import NewTask

TASKS = 2000
HAVE_SQLITE3 = shutil.which("sqlite3") is not None


def filled(state: Path) -> Path:
    store = StateStore(state)
    store.add_tasks([NewTask(title=f"task {i}", body="x" * 400, labels=("l",)) for i in range(TASKS)], now=1.0)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return store.path


def truncated(tmp_path: Path) -> Path:
    path = filled(tmp_path / "state")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def overwritten(tmp_path: Path) -> Path:
    path = filled(tmp_path / "state")
    data = bytearray(path.read_bytes())
    rng = random.Random(11)
    data[200_000:240_000] = bytes(rng.randrange(256) for _ in range(40_000))
    path.write_bytes(bytes(data))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_check_of_a_sound_database_finds_nothing(tmp_path: Path) -> None:
    path = filled(tmp_path / "state")
    assert check(path) == []
    assert StateStore(tmp_path / "state").check() == []


@pytest.mark.parametrize("damage", [truncated, overwritten])
def test_check_lists_the_damage(tmp_path: Path, damage: object) -> None:
    path = damage(tmp_path)  # type: ignore[operator]
    problems = check(path)
    assert problems and all(isinstance(p, str) and p for p in problems)


def test_check_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such database"):
        check(tmp_path / "fleet.db")


@pytest.mark.parametrize(
    "use_cli", [pytest.param(True, marks=pytest.mark.skipif(not HAVE_SQLITE3, reason="no sqlite3")), False]
)
@pytest.mark.parametrize("damage", [truncated, overwritten])
def test_recover_saves_the_readable_tasks_into_a_usable_private_database(
    tmp_path: Path, damage: object, use_cli: bool
) -> None:
    path = damage(tmp_path)  # type: ignore[operator]
    before = digest(path)
    dest = tmp_path / "recovered" / "fleet.db"
    dest.parent.mkdir()
    result = recover(path, dest, use_cli=use_cli)
    if use_cli and result.method == "row copy":  # a sqlite3 built without the page reader .recover needs
        assert "sqlite3 .recover failed" in result.problems[0]
    else:
        assert result.method == ("sqlite3 .recover" if use_cli else "row copy")
    assert digest(path) == before  # the damaged file is never changed
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    saved = dict(result.tables)["tasks"]
    assert TASKS // 3 < saved < TASKS
    assert result.rows >= saved
    assert check(dest) == []
    store = StateStore(dest.parent)  # the recovered file is a working state database
    tasks = store.tasks()
    assert len(tasks) == saved
    assert all(t.title.startswith("task ") and t.body == "x" * 400 for t in tasks)
    store.add_tasks([NewTask(title="after recovery")], now=2.0)
    assert store.tasks(limit=TASKS + 1)[-1].title == "after recovery"
    store.close()


def test_recover_never_overwrites(tmp_path: Path) -> None:
    path = filled(tmp_path / "state")
    dest = tmp_path / "taken.db"
    dest.write_text("mine")
    with pytest.raises(StoreError, match="already exists"):
        recover(path, dest)
    assert dest.read_text() == "mine"
