"""What the query modules need from a database: one interface, two backends (SQLite, PostgreSQL).

The queries are written once, in SQL both backends run: `?` placeholders (translated for
PostgreSQL), `INSERT ... ON CONFLICT`, `RETURNING`. What differs is said here: the clause
that makes a claim skip rows another claimer holds (PostgreSQL's SKIP LOCKED; SQLite takes
the whole database in BEGIN IMMEDIATE instead), the errors a refused change raises, and how
to ask whether a table exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Conn(Protocol):
    """The connection inside one transaction (sqlite3's own, or the PostgreSQL adapter)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object: ...


class Backend(Protocol):
    kind: str  # "sqlite" or "postgresql"
    skip_locked: str  # appended to a claim's row choice: "" or " FOR UPDATE SKIP LOCKED"
    refused: tuple[type[BaseException], ...]  # what a unique or check constraint raises
    host: str | None  # the host this process supervises (None on SQLite: one machine)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]: ...

    def row(self, sql: str, params: Sequence[object] = ()) -> Any | None: ...

    def transaction(self) -> contextlib.AbstractContextManager[Conn]: ...

    def has_table(self, name: str) -> bool: ...

    def wake(self, db: Any) -> None: ...

    def close(self) -> None: ...

    def check_same_file(self) -> None: ...
