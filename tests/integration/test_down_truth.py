"""`down` stops the fleet from the truth (tmux and /proc) when its database is broken, and
sweeps every process carrying the fleet's name, with real tmux and real processes."""

from __future__ import annotations

import gc
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, alive, pids_with_env, wait_for

pytestmark = pytest.mark.tmux

# One plain agent, and one whose child leaves its group and tree (a double fork) without FLEET_RUN.
AGENTS = """
[defaults]
min_uptime = "0.2s"
[agents.plain]
command = "sleep 300"
[agents.escaper]
command = "sh -c 'setsid env -u FLEET_RUN sleep 301 &'; exec sleep 300"
"""


def empty(db: Path) -> None:
    db.write_bytes(b"")


def garbage(db: Path) -> None:
    db.write_bytes(b"this is not a database at all\n" * 100)


def corrupt(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's b-tree header: sqlite_master unreadable
    db.write_bytes(bytes(data))


def test_down_with_an_immutable_database_stops_everything(fleet_dir: FleetHarness) -> None:
    """chattr +i: the database can be read, not written (as a full disk or a read-only mount)."""
    fleet_dir.write(AGENTS)
    pids = started(fleet_dir)
    db = checkpointed(fleet_dir)
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not permitted here")
    try:
        result = fleet_dir.run_process("down")  # a new process, as a person types it
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert result.code == 0, result
    assert [p for p in pids if alive(p)] == []
    assert fleet_dir.tmux("list-sessions") == ""
    warning = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "not recorded" in warning[0] and "cannot be written" in warning[0], result.err


def checkpointed(h: FleetHarness) -> Path:
    """fleet.db holding everything, its -wal and -shm gone, and no connection to it left in
    this process.

    An in-process command leaves its SQLite connection open until the garbage collector runs
    (a connection and its statement cache form a cycle). SQLite keeps the descriptor of a
    connection closed while another of the process's connections holds a lock on the file and
    hands it to the next connection that opens that file: an in-process `down` after a
    collection at the wrong moment wrote through a read-write descriptor opened before
    `chattr +i`, and the test saw a store that works. So no connection is left here, and the
    immutable case runs `down` in its own process, as a person does.
    """
    gc.collect()
    store = h.fleet().store
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db = store.path
    assert [fd for fd in os.listdir("/proc/self/fd") if _opens(fd, db)] == []
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    return db


def _opens(fd: str, db: Path) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith(str(db))
    except OSError:
        return False


def started(h: FleetHarness) -> list[int]:
    """`up`, then every process carrying the fleet's name (the two agents and the escaped child)."""
    assert h.run("up").code == 0
    wait_for(lambda: any(_agent(p) == "escaper" and _escaped(p) for p in pids_with_env("FLEET_NAME", h.name)))
    return sorted(pids_with_env("FLEET_NAME", h.name))


def _escaped(pid: int) -> bool:
    return os.getsid(pid) == pid


@pytest.mark.parametrize("damage", [empty, garbage, corrupt])
def test_down_with_a_broken_database_stops_everything(fleet_dir: FleetHarness, damage: object) -> None:
    fleet_dir.write(AGENTS, supervisor=True)
    pids = started(fleet_dir)
    db = checkpointed(fleet_dir)
    damage(db)  # type: ignore[operator]
    assert fleet_dir.run("status").code == 2  # the store is really unusable

    result = fleet_dir.run("down")

    assert result.code == 0, result
    assert [p for p in pids if alive(p)] == []
    assert pids_with_env("FLEET_NAME", fleet_dir.name) == []
    assert fleet_dir.tmux("list-sessions") == ""  # the fleet's tmux server is gone
    warning = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "not recorded" in warning[0], result.err
    if damage is empty:
        assert "empty file (0 bytes)" in warning[0] and "locked" not in warning[0]
    if damage is not garbage:  # a file that never was a database holds nothing to recover
        assert "store recover" in warning[0]
    assert "error:" not in result.err


def test_down_sweeps_processes_that_left_without_fleet_run(fleet_dir: FleetHarness) -> None:
    """A child that setsid()s away from its agent and drops FLEET_RUN still carries FLEET_NAME."""
    fleet_dir.write(AGENTS)
    pids = started(fleet_dir)
    result = fleet_dir.run("down")
    assert result.code == 0, result
    assert [p for p in pids if alive(p)] == []
    assert result.err == ""


def test_named_down_sweeps_only_that_agent(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(AGENTS)
    started(fleet_dir)
    plain = fleet_dir.status()["plain"]["pid"]
    result = fleet_dir.run("down", "escaper")
    assert result.code == 0, result
    remaining = pids_with_env("FLEET_NAME", fleet_dir.name)
    assert isinstance(plain, int) and alive(plain)
    assert [p for p in remaining if _agent(p) == "escaper"] == []


def _agent(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    except OSError:
        return None
    value = env.get(b"FLEET_AGENT")
    return value.decode() if value is not None else None
