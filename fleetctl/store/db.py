"""The state database file: created private, opened in WAL mode, and every failure explained.

The file is created under a temporary name with the whole schema, then linked into place,
so `fleet.db` never exists half-made: an empty or headerless `fleet.db` is damage, never a
fresh start. It is created 0600 (whatever the umask) and SQLite gives its -wal and -shm
files the database's own mode, since they hold the same data.

Every query goes through `rows`, `row` or `transaction`, which turn SQLite's errors into a
StoreError saying what is wrong (locked, empty, not a database, corrupt pages, read-only,
disk full) and what to do, never to move the database aside: that would lose the backlog.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fleetctl.errors import StoreError
from fleetctl.store import schema

PRIVATE = 0o600
HEADER = b"SQLite format 3\x00"
EMPTY = "the file is empty"
NOT_SQLITE = "not a SQLite database"


class Database:
    """One SQLite file, connected on first use and reconnected when it was replaced."""

    kind = "sqlite"
    skip_locked = ""  # a claim's BEGIN IMMEDIATE already holds the whole database
    refused: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
    host: str | None = None  # one machine: rows need not say which host wrote them

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._ino: int | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def check_same_file(self) -> None:
        """Reconnect if the database file was deleted or replaced under us."""
        if self._conn is None:
            return
        try:
            ino: int | None = self.path.stat().st_ino
        except FileNotFoundError:
            ino = None
        if ino != self._ino:
            self.close()

    # --- queries ------------------------------------------------------------------------

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.error(exc) from None

    def row(self, sql: str, params: Sequence[object] = ()) -> Any | None:
        try:
            return self.conn.execute(sql, params).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.error(exc) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with tx(self.conn) as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            raise self.error(exc) from None

    def wake(self, db: sqlite3.Connection) -> None:
        """One machine: the commands wake the supervisor through its FIFO themselves."""

    def has_table(self, name: str) -> bool:
        return self.row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None

    def error(self, exc: sqlite3.Error) -> StoreError:
        return explain(self.path, exc)

    # --- opening ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the state dir ({exc.strerror})") from None
        if not self.path.exists():
            self._create()
        elif self.path.stat().st_size == 0:
            raise explain(self.path, sqlite3.DatabaseError("empty file"))
        conn = None
        try:
            with private_files():
                conn = _connect(self.path)
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > schema.SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: written by a newer fleetctl (schema {version} > {schema.SCHEMA_VERSION})",
                        hint="upgrade fleetctl to use this fleet's state",
                    )
                conn.execute("PRAGMA journal_mode = WAL")
                if version < schema.SCHEMA_VERSION:
                    _create_tables(conn)
                conn.execute("SELECT count(*) FROM agents").fetchone()
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise explain(self.path, exc) from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        restrict(self.path)
        self._ino = self.path.stat().st_ino
        return conn

    def _create(self) -> None:
        """Make the whole database under a private name, then link it in (a racing creator wins)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))
            with private_files():
                conn = sqlite3.connect(tmp, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    _create_tables(conn)
                finally:
                    conn.close()
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.path)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise explain(self.path, exc) from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _create_tables(conn: sqlite3.Connection) -> None:
    """Apply the migrations this file lacks, under BEGIN IMMEDIATE (one migrator at a time)."""
    with tx(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, statements in schema.migrations():
            if number > version:
                for statement in statements:
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")


@contextlib.contextmanager
def tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE so writers queue on the lock instead of failing on upgrade."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


# --- permissions ----------------------------------------------------------------------


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile (the database, its -wal and -shm) get no group or other bits.

    The umask is process-wide, so this is held only around opening, never around a query.
    """
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def restrict(path: Path) -> None:
    """chmod the database and its side files to 0600 when they are more open (older fleetctl)."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to change
            if name.stat().st_mode & 0o077:
                os.chmod(name, PRIVATE)


# --- errors for people ----------------------------------------------------------------


def explain(path: Path, exc: BaseException) -> StoreError:
    """What is really wrong with the database, found by looking at the file when SQLite fails."""
    text = str(exc)
    lowered = text.lower()
    check = "`fleetctl store check` lists the damage; `fleetctl store recover` copies what is readable"
    if isinstance(exc, OSError):
        return StoreError(f"{path}: cannot create the state database ({exc.strerror})")
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"{path}: the database refused a change ({text})")
    if "full" in lowered:
        return StoreError(f"{path}: the disk is full ({text})", hint="free some space, then run the command again")
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(
            f"{path}: the state database cannot be written ({text})",
            hint=f"check that you own it and may write it (ls -l {path}), and that it is not immutable (lsattr)",
        )
    if "unable to open" in lowered:
        return StoreError(
            f"{path}: the state database cannot be opened ({text})",
            hint=f"check the permissions of {path.parent} and of the files in it",
        )
    found = damage(path, quick=True)
    if found is None and ("locked" in lowered or "busy" in lowered):
        return StoreError(
            f"{path}: the state database is locked by another process ({text})",
            hint=f"wait for the other fleetctl to finish, or find it with `fuser {path}` and stop it",
        )
    if found is None:
        return StoreError(f"{path}: the state database failed ({text})", hint=f"if this repeats: {check}")
    first, count = found[0], len(found)
    more = f" (and {count - 1} more problems)" if count > 1 else ""
    if first.startswith(EMPTY):
        wal = Path(f"{path}-wal")
        kept = wal.stat().st_size if wal.exists() else 0
        hint = (
            f"`fleetctl store recover` makes a new database from what is left (its -wal file, {kept} bytes, may "
            "hold the last changes; the empty file is kept beside it), then `fleetctl reconcile` adopts the "
            "running agents"
            if kept
            else "nothing is left in it: `fleetctl store recover` puts a new database in its place (the empty "
            "file is kept beside it), then `fleetctl reconcile` adopts the running agents"
        )
        return StoreError(f"{path}: the state database is an empty file (0 bytes): it was truncated", hint=hint)
    if first.startswith(NOT_SQLITE):
        return StoreError(
            f"{path}: {first}",
            hint="restore fleet.db from a backup, or check that the fleet's state_dir is the one you meant",
        )
    return StoreError(f"{path}: the state database is damaged: {first}{more}", hint=check)


def damage(path: Path, *, quick: bool = False, limit: int = 100) -> list[str] | None:
    """The problems SQLite finds in the file, or None when it is sound.

    `quick` runs `PRAGMA quick_check` (no index cross-checks), fast enough to run whenever
    opening fails.
    """
    try:
        with path.open("rb") as f:
            header = f.read(len(HEADER))
    except OSError as exc:
        return [f"cannot read the file ({exc.strerror})"]
    if not header:
        return [f"{EMPTY} (0 bytes)"]
    if header != HEADER:
        return [f"{NOT_SQLITE} (it starts with {header[:16]!r}, expected {HEADER!r})"]
    try:
        with read_only(path) as conn:
            found = [str(r[0]) for r in conn.execute(f"PRAGMA {'quick' if quick else 'integrity'}_check({limit})")]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # in use: not a sign of damage
        return [str(exc)]
    return None if found == ["ok"] else found


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0)
    try:
        yield conn
    finally:
        conn.close()
