"""Checking and salvaging a damaged state database (for `fleetctl store check|recover`).

`check` is SQLite's own integrity check. `recover` writes a new database beside the damaged
one and never changes the damaged file: with the `sqlite3` program it uses `.recover`
(which reads pages directly, so it also finds rows whose index or parent page is lost);
without it, every table is copied row by row, stepping over the rows that cannot be read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fleetctl.errors import StoreError
from fleetctl.record import record
from fleetctl.store import schema
from fleetctl.store.db import damage, read_only

BATCH = 500
_MAX_ROWID = 2**63 - 1


@record
class Recovery:
    """What `recover` saved: rows per table in the new database, and what it could not read."""

    dest: Path
    method: str  # "sqlite3 .recover" or "row copy"
    tables: tuple[tuple[str, int], ...]
    problems: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def check(path: Path) -> list[str]:
    """SQLite's `PRAGMA integrity_check` of the database: the problems, [] when it is sound."""
    if not path.exists():
        raise StoreError(f"{path}: no such database")
    return damage(path) or []


def recover(path: Path, dest: Path, *, use_cli: bool = True) -> Recovery:
    """Copy what is readable in `path` into a new database at `dest` (0600); `path` is not changed."""
    if not path.exists():
        raise StoreError(f"{path}: no such database")
    if dest.exists():
        raise StoreError(f"{dest}: already exists", hint="name a new file to recover into")
    binary = shutil.which("sqlite3") if use_cli else None
    problems: list[str] = []
    if path.stat().st_size == 0:  # nothing for .recover to read; the -wal alone may hold rows
        binary = None
        problems.append("the file is empty (0 bytes): only what its -wal holds could be copied")
    with tempfile.TemporaryDirectory(prefix=".recover-", dir=dest.parent) as work:
        copy = _working_copy(path, Path(work))
        if binary is not None:
            try:
                problems = _recover_with_cli(binary, copy, dest)
                return Recovery(dest=dest, method="sqlite3 .recover", tables=_counts(dest), problems=tuple(problems))
            except (OSError, subprocess.SubprocessError, sqlite3.DatabaseError) as exc:
                problems = [f"sqlite3 .recover failed ({exc}); copied row by row instead"]
                _remove(dest)
        problems += _copy_rows(copy, dest)
    return Recovery(dest=dest, method="row copy", tables=_counts(dest), problems=tuple(problems))


# --- internals ------------------------------------------------------------------------


def _working_copy(path: Path, work: Path) -> Path:
    """A copy of the database (with its -wal) to read from, so the damaged file is never written.

    A truncated file is padded back to the size its header records: SQLite refuses to read
    even the list of tables of a file shorter than that, while the padding is only
    unreadable pages, which the copy steps over.
    """
    copy = work / path.name
    shutil.copyfile(path, copy)
    wal = Path(f"{path}-wal")
    if wal.exists():
        shutil.copyfile(wal, Path(f"{copy}-wal"))
    with copy.open("rb") as f:
        header = f.read(100)
    if len(header) == 100:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        if page_size and copy.stat().st_size < pages * page_size:
            os.truncate(copy, pages * page_size)
    return copy


def _remove(dest: Path) -> None:
    for leftover in (dest, Path(f"{dest}-wal"), Path(f"{dest}-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _new_file(dest: Path) -> None:
    os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _recover_with_cli(binary: str, path: Path, dest: Path) -> list[str]:
    dump = subprocess.run([binary, str(path), ".recover"], capture_output=True, timeout=3600, check=False)
    if dump.returncode != 0:  # e.g. a sqlite3 built without the sqlite_dbpage table that .recover reads
        raise subprocess.SubprocessError(dump.stderr.decode(errors="replace").strip() or f"exit {dump.returncode}")
    _new_file(dest)
    load = subprocess.run([binary, str(dest)], input=dump.stdout, capture_output=True, timeout=3600, check=False)
    if load.returncode != 0:
        raise subprocess.SubprocessError(load.stderr.decode(errors="replace").strip() or f"exit {load.returncode}")
    conn = sqlite3.connect(dest, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        schema.complete_sqlite(conn)  # tables whose schema was lost come back empty
    finally:
        conn.close()
    lines = (dump.stderr + load.stderr).decode(errors="replace").splitlines()
    return [line for line in lines if line.strip()]


def _copy_rows(path: Path, dest: Path) -> list[str]:
    """Table by table, rowid by rowid where a batch fails, into a database with fleetctl's schema."""
    problems: list[str] = []
    _new_file(dest)
    out = sqlite3.connect(dest, isolation_level=None)
    try:
        out.execute("PRAGMA journal_mode = WAL")
        schema.complete_sqlite(out)
        src = sqlite3.connect(path, isolation_level=None)
        try:
            for table, create in _tables(src, out, problems):
                columns = _columns(src, table)
                if not _columns(out, table):
                    out.execute(create)
                kept = [c for c in columns if c in _columns(out, table)]
                if not kept:
                    continue
                names = ", ".join(f'"{c}"' for c in kept)
                insert = f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(kept))})'
                out.execute("BEGIN")
                for row in _readable_rows(src, table, names, problems):
                    out.execute(insert, row[1:])
                out.execute("COMMIT")
        finally:
            src.close()
    finally:
        out.close()
    return problems


def _tables(src: sqlite3.Connection, out: sqlite3.Connection, problems: list[str]) -> list[tuple[str, str]]:
    try:
        rows = src.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [(str(n), str(s)) for n, s in rows.fetchall()]
    except sqlite3.DatabaseError as exc:
        problems.append(f"the list of tables is unreadable ({exc}); trying fleetctl's own tables")
        known = out.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [(str(n), str(s)) for n, s in known.fetchall()]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    try:
        return [str(r[1]) for r in conn.execute(f'PRAGMA table_info("{table}")').fetchall()]
    except sqlite3.DatabaseError:
        return []


def _readable_rows(
    src: sqlite3.Connection, table: str, names: str, problems: list[str]
) -> Iterator[tuple[object, ...]]:
    """(rowid, *values) in rowid order; where rows cannot be read, skip ahead until they can."""
    query = f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?'
    after = -_MAX_ROWID
    while True:
        try:
            batch = src.execute(query, (after, BATCH)).fetchall()
        except sqlite3.DatabaseError:
            batch = None
        if batch is None:  # something in the next rows is unreadable: go one row at a time
            row, skipped_to = _next_readable(src, query, after)
            if skipped_to is not None:
                problems.append(f"{table}: rows after rowid {after} unreadable, skipped to {skipped_to}")
            if row is None or int(row[0]) <= after:
                return
            yield tuple(row)
            after = int(row[0])
            continue
        fresh = [tuple(r) for r in batch if int(r[0]) > after]
        if not fresh:  # the end, or a damaged tree that leads back to rows already read
            return
        yield from fresh
        after = max(int(r[0]) for r in fresh)


def _next_readable(src: sqlite3.Connection, query: str, after: int) -> tuple[Any, int | None]:
    step = 0
    while after + step < _MAX_ROWID:
        try:
            row = src.execute(query, (after + step, 1)).fetchone()
            return row, (after + step if step else None)
        except sqlite3.DatabaseError:
            step = max(1, step * 2)
    return None, _MAX_ROWID


def _counts(dest: Path) -> tuple[tuple[str, int], ...]:
    with read_only(dest) as conn:
        names = [
            str(r[0])
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        return tuple((n, int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0])) for n in sorted(names))
