"""store (check, recover): SQLite's integrity check of the fleet's database, and a salvage of
what is readable in it, so a damaged database never has to be moved aside with the backlog."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from fleetctl.cli.base import EXIT_FAILED, EXIT_OK, FleetContext, LazyGroup, command, pass_fleet
from fleetctl.cli.render import printable

store = LazyGroup(
    name="store",
    lazy_subcommands={
        "check": "fleetctl.cli.store:store_check",
        "recover": "fleetctl.cli.store:store_recover",
        "migrate": "fleetctl.cli.store:store_migrate",
    },
    help="""The fleet's state database: check it, and recover what is readable when it is damaged.

    \b
    Examples:
      fleetctl store check             SQLite's integrity check; exit 1 when damaged
      fleetctl store recover           a new database from what is readable, swapped in
      fleetctl store recover --into x  the same, written to x; fleet.db is left as it is
      fleetctl store migrate --to URL  copy fleet.db into an empty PostgreSQL store
    """,
)


def _db_path(ctx: FleetContext) -> Path:
    from fleetctl.store.state import DB_NAME

    return ctx.spec().state_dir / DB_NAME


@command(name="check")
@pass_fleet
def store_check(ctx: FleetContext) -> int:
    """Run SQLite's integrity check on the fleet's database; exit 1 and list the damage if any."""
    from fleetctl.store.repair import check

    path = _db_path(ctx)
    problems = check(path)
    if not problems:
        print(f"{path}: ok (SQLite's integrity check found nothing)")
        return EXIT_OK
    print(f"{path}: damaged ({len(problems)} problem{'s' if len(problems) != 1 else ''}):")
    for line in problems:
        print(f"  {printable(line)}")
    print("hint: `fleetctl store recover` copies what is readable into a new database", file=sys.stderr)
    return EXIT_FAILED


@command(name="recover")
@click.option(
    "--into",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the recovered database here and leave fleet.db as it is.",
)
@pass_fleet
def store_recover(ctx: FleetContext, into: Path | None) -> int:
    """Copy what is readable in the fleet's database into a new one (the damaged file is never changed).

    Without --into, the new database takes fleet.db's place under the fleet's lock, and the
    damaged file is kept beside it as fleet.db.damaged-<time>. Exit 1 when rows were unreadable.
    """
    from fleetctl.store.repair import recover
    from fleetctl.store.state import StateStore

    path = _db_path(ctx)
    state = StateStore(path.parent)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with state.lock():
        dest = into or path.with_name(f"{path.name}.recovered-{stamp}")
        result = recover(path, dest)
        kept = None
        if into is None:
            kept = path.with_name(f"{path.name}.damaged-{stamp}")
            for suffix in ("", "-wal", "-shm"):  # the damaged file and its side files, kept together
                if Path(f"{path}{suffix}").exists():
                    os.replace(f"{path}{suffix}", f"{kept}{suffix}")
            _checkpoint(dest)
            os.replace(dest, path)
    counts = ", ".join(f"{name} {n}" for name, n in result.tables if n)
    where = f"into {into}" if into is not None else f"into {path}"
    print(f"recovered {result.rows} rows {where} ({result.method}){': ' + counts if counts else ''}")
    if kept is not None:
        print(f"the damaged database is kept as {kept}")
    for line in result.problems:
        print(f"  unreadable: {printable(line)}")
    return EXIT_FAILED if result.problems else EXIT_OK


@command(name="migrate")
@click.option("--to", "url", required=True, metavar="URL", help="The PostgreSQL store: postgresql://user@host/db.")
@pass_fleet
def store_migrate(ctx: FleetContext, url: str) -> int:
    """Copy this fleet's SQLite store (tasks, messages, events, history) into an empty PostgreSQL store.

    All or nothing, in one transaction; fleet.db is not changed. Then set `[fleet] store`
    to the URL (the password in PGPASSWORD or ~/.pgpass) and run `fleetctl up`.
    """
    from fleetctl.errors import UsageError
    from fleetctl.store.migrate import copy
    from fleetctl.store.url import masked, problem

    wrong = problem(url, allow_password=True)
    if wrong:
        raise UsageError(f"--to {masked(url)}: {wrong}")
    spec = ctx.spec()
    counts = copy(spec.state_dir / "fleet.db", url, spec.host)
    copied = ", ".join(f"{table} {n}" for table, n in counts.items() if n) or "nothing (the store was empty)"
    print(f"copied into {masked(url)}: {copied}")
    return EXIT_OK


def _checkpoint(path: Path) -> None:
    """Fold the new database's -wal into it, so the one file holds everything when it is moved."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists() and side.stat().st_size == 0:
            side.unlink()
