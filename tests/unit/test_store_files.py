"""The state database file on disk: private permissions, and errors that say what is wrong."""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetctl.errors import StoreError
from fleetctl.model import Event
from fleetctl.store import StateStore, state_dir_warning
from fleetctl.store.tasks import NewTask

TASKS = 2000


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def filled(state: Path, tasks: int = TASKS) -> Path:
    """A database with `tasks` tasks, checkpointed into the main file and closed."""
    store = StateStore(state)
    store.add_tasks([NewTask(title=f"task {i}", body="x" * 400) for i in range(tasks)], now=1.0)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return store.path


def fails_with(state: Path) -> StoreError:
    store = StateStore(state)
    with pytest.raises(StoreError) as info:
        store.tasks()
    store.close()
    return info.value


def assert_never_move_aside(error: StoreError) -> None:
    advice = f"{error.message} {error.hint or ''}".lower()
    assert "aside" not in advice and " mv " not in advice and "locked" not in advice


# --- permissions ----------------------------------------------------------------------


def test_database_and_side_files_are_private_with_umask_022(tmp_path: Path, umask_022: None) -> None:
    store = StateStore(tmp_path / "state")
    store.add_event(Event(time=1.0, kind="test"))  # a write: the -wal and -shm files now exist
    files = [store.path, Path(f"{store.path}-wal"), Path(f"{store.path}-shm")]
    assert all(f.exists() for f in files)
    assert [mode(f) for f in files] == ["0o600"] * 3
    assert [p.name for p in store.state_dir.iterdir() if p.name.startswith(".")] == []  # no temp file left
    store.close()


def test_an_older_world_readable_database_is_made_private(tmp_path: Path, umask_022: None) -> None:
    path = filled(tmp_path / "state", tasks=1)
    os.chmod(path, 0o644)
    store = StateStore(tmp_path / "state")
    assert len(store.tasks()) == 1
    assert mode(path) == "0o600"
    assert mode(Path(f"{path}-shm")) == "0o600"
    store.close()


def test_state_dir_open_to_others_is_warned_about(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    assert state_dir_warning(state) is None
    os.chmod(state, 0o755)
    warning = state_dir_warning(state)
    assert warning is not None
    assert "group and other users" in warning and "0755" in warning and f"chmod 700 {state}" in warning
    os.chmod(state, 0o750)
    assert "open to group (mode 0750)" in (state_dir_warning(state) or "")
    assert state_dir_warning(tmp_path / "missing") is None


# --- what is wrong, said plainly --------------------------------------------------------


def test_empty_database_is_reported_as_empty_not_as_fresh_state(tmp_path: Path) -> None:
    filled(tmp_path / "state", tasks=3)
    os.truncate(tmp_path / "state" / "fleet.db", 0)
    error = fails_with(tmp_path / "state")
    assert "empty file (0 bytes)" in error.message
    assert error.exit_code == 2
    assert_never_move_aside(error)


def test_empty_database_beside_a_live_wal_is_not_called_locked(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.add_tasks([NewTask(title="kept in the wal")], now=1.0)
    other = StateStore(tmp_path / "state")
    other.tasks()  # a second connection keeps the -wal and -shm alive
    os.truncate(store.path, 0)
    error = fails_with(tmp_path / "state")
    assert "empty file" in error.message
    assert error.hint and "-wal" in error.hint
    assert_never_move_aside(error)
    store.close()
    other.close()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "fleet.db").write_bytes(b"hello world\n" * 100)
    error = fails_with(tmp_path / "state")
    assert "not a SQLite database" in error.message and "hello world" in error.message
    assert_never_move_aside(error)


def test_a_truncated_database_is_damaged_and_the_hint_offers_check_and_recover(tmp_path: Path) -> None:
    path = filled(tmp_path / "state")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = fails_with(tmp_path / "state")
    assert "damaged" in error.message
    assert error.hint and "fleetctl store check" in error.hint and "fleetctl store recover" in error.hint
    assert_never_move_aside(error)


def test_corrupt_pages_met_by_a_query_are_a_store_error_not_a_traceback(tmp_path: Path) -> None:
    path = filled(tmp_path / "state")
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    data[20_000:60_000] = bytes(rng.randrange(256) for _ in range(40_000))
    path.write_bytes(bytes(data))
    error = fails_with(tmp_path / "state")
    assert "damaged" in error.message
    assert_never_move_aside(error)


def test_a_busy_database_is_reported_as_locked(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.tasks()
    store.db.execute("PRAGMA busy_timeout = 0")
    other = StateStore(tmp_path / "state")
    other.tasks()
    with other.transaction(), pytest.raises(StoreError) as info:
        store.add_tasks([NewTask(title="t")], now=1.0)
    assert "locked by another process" in info.value.message
    store.close()
    other.close()
