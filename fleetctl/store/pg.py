"""The PostgreSQL backend: the same queries as SQLite, for a fleet spread over several hosts.

Placeholders are translated (`?` to `%s`) once per query text. Parameters are bound on the
client (psycopg's ClientCursor), as SQLite does, so `? IS NULL` and untyped literals need
no casts. A claim picks its row `FOR UPDATE SKIP LOCKED`, so claimers on every host take
different tasks without waiting on each other. Migrations run in one transaction under an
advisory lock, so hosts starting together migrate once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fleetctl.errors import StoreError, StoreUnreachable
from fleetctl.store import schema
from fleetctl.store.backend import Conn
from fleetctl.store.url import masked

if TYPE_CHECKING:
    import psycopg

MIGRATION_LOCK = 0x666C656574  # "fleet": the advisory lock held while migrating
WAKE_CHANNEL = "fleet_wake"  # NOTIFYed when work appears (tasks queued, wakes sent); supervisors LISTEN
_SQL: dict[str, str] = {}


def translate(sql: str) -> str:
    """SQLite's placeholders to psycopg's (a literal % doubled); DDL to PostgreSQL's types."""
    out = _SQL.get(sql)
    if out is None:
        out = sql.replace("%", "%%").replace("?", "%s")
        if out.lstrip().upper().startswith("CREATE"):
            out = schema.for_postgresql(out)
        _SQL[sql] = out
    return out


class _Conn:
    """The connection inside one transaction, with sqlite3's execute/executemany."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self._conn.execute(translate(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        seq = [tuple(p) for p in parameters]
        if seq:
            with self._conn.cursor() as cur:
                cur.executemany(translate(sql), seq)
        return None


class PgDatabase:
    """One PostgreSQL database, connected on first use (and migrated then)."""

    kind = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, host: str | None = None) -> None:
        import psycopg

        self.url = url
        self.host = host
        self.refused: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._open()
        return self._conn

    def _open(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, cursor_factory=psycopg.ClientCursor, connect_timeout=10)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise StoreUnreachable(f"cannot connect to the store {masked(self.url)}: {masked(reason)}") from None
        try:
            if self.host:
                conn.execute("SELECT set_config('fleet.host', %s, false)", (self.host,))
            migrate(conn)
        except psycopg.Error as exc:
            conn.close()
            raise self.error(exc) from None
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def check_same_file(self) -> None:
        """Nothing to re-check: a server database is not replaced under us like a file."""

    def error(self, exc: BaseException) -> StoreError:
        text = masked(" ".join(str(exc).split()))
        return StoreError(f"the store {masked(self.url)} failed: {text}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.OperationalError as exc:
            self.close()  # reconnect next time
            raise self.error(exc) from None
        except psycopg.Error as exc:
            if isinstance(exc, self.refused):
                raise
            raise self.error(exc) from None

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock, self._errors():
            return self.conn.execute(translate(sql), tuple(params)).fetchall()

    def row(self, sql: str, params: Sequence[object] = ()) -> Any | None:
        with self._lock, self._errors():
            return self.conn.execute(translate(sql), tuple(params)).fetchone()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Conn]:
        with self._lock, self._errors(), self.conn.transaction():
            yield _Conn(self.conn)

    def wake(self, db: Conn) -> None:
        """NOTIFY every host's supervisor when this transaction commits (there is new work)."""
        db.execute(f"NOTIFY {WAKE_CHANNEL}")

    def has_table(self, name: str) -> bool:
        found = self.row(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?", (name,)
        )
        return found is not None


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply the migrations the database lacks, in one transaction under an advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version BIGINT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
        )
        found = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        version = int(found[0]) if found else 0
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"the store was migrated by a newer fleetctl (schema {version} > {schema.SCHEMA_VERSION})",
                hint="upgrade fleetctl on this host to use this fleet's store",
            )
        for number, statements in schema.migrations("postgresql"):
            if number > version:
                for statement in statements:
                    conn.execute(translate(statement).replace("%%", "%"))
                conn.execute("INSERT INTO schema_migrations (version, applied) VALUES (%s, %s)", (number, time.time()))
        return max(version, schema.SCHEMA_VERSION)


def listen(url: str, on_wake: Callable[[], None], should_stop: Callable[[], bool], poll: float = 1.0) -> None:
    """LISTEN for wakes and call on_wake() for each, until should_stop(); reconnects after errors.

    Runs in a supervisor's thread: NOTIFY reaches a supervisor on another host at once, where
    polling the store would cost every host a query per tick.
    """
    import psycopg

    while not should_stop():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f"LISTEN {WAKE_CHANNEL}")
                on_wake()  # anything NOTIFYed while not listening
                while not should_stop():
                    if any(True for _ in conn.notifies(timeout=poll, stop_after=1)):
                        on_wake()
        except psycopg.Error:
            time.sleep(poll)
