"""StateStore: the fleet's memory in SQLite (WAL) or PostgreSQL, and the host's lock in the state dir.

The store records intent, history and counters; it never decides whether something is
alive (that is re-observed every time). The queries live in modules by subject (runs,
tasks, messages, ops), each given the one Database; the store composes them and offers
their methods under its own name so callers need one object.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl.statedir import state_dir_warning
from fleetctl.store.activity import ActivityQueries
from fleetctl.store.backend import Backend, Conn
from fleetctl.store.db import Database
from fleetctl.store.hosts import HostQueries
from fleetctl.store.messages import MessageQueries
from fleetctl.store.ops import OpsQueries
from fleetctl.store.requests import RequestQueries
from fleetctl.store.review import ReviewQueries
from fleetctl.store.runs import RunQueries
from fleetctl.store.tasks import TaskQueries

if TYPE_CHECKING:
    from fleetctl.store.repair import Recovery

DB_NAME = "fleet.db"
LOCK_NAME = "lock"


class StateStore:
    """One SQLite file in the fleet's state dir (or the PostgreSQL database at `url`), plus the
    lock file in the state dir (each host supervises its own agents, so the lock is per host)."""

    def __init__(self, state_dir: Path, url: str | None = None, host: str | None = None) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self.url = url
        self.database: Backend
        if url is None:
            self.database = Database(self.path)
        else:
            from fleetctl.store.pg import PgDatabase

            self.database = PgDatabase(url, host)
        self.history = RunQueries(self.database)
        self.backlog = TaskQueries(self.database)
        self.mail = MessageQueries(self.database)
        self.ops = OpsQueries(self.database)
        self.review = ReviewQueries(self.database)  # a task's workspace, attempt results, review
        self.hosts = HostQueries(self.database)  # every host's heartbeat and last observation
        self.seen_doing = ActivityQueries(self.database)  # each kind agent's activity
        self.requests = RequestQueries(self.database)  # actions asked of the host that runs an agent

        # Agents, runs, events, meta.
        self.records = self.history.records
        self.ensure_agents = self.history.ensure_agents
        self.set_desired = self.history.set_desired
        self.update_agent = self.history.update_agent
        self.bump_health_failures = self.history.bump_health_failures
        self.health_checked = self.history.health_checked
        self.reset = self.history.reset
        self.fail_agent = self.history.fail_agent
        self.forget = self.history.forget
        self.add_run = self.history.add_run
        self.verify_run = self.history.verify_run
        self.end_run = self.history.end_run
        self.run = self.history.run
        self.runs_since = self.history.runs_since
        self.add_event = self.history.add_event
        self.events = self.history.events
        self.bump = self.history.bump
        self.meta = self.history.meta
        self.set_meta = self.history.set_meta

        # The backlog and the pools' breakers.
        self.task = self.backlog.task
        self.tasks = self.backlog.tasks
        self.task_counts = self.backlog.task_counts
        self.queued_by_pool = self.backlog.queued_by_pool
        self.attempts = self.backlog.attempts
        self.next_lease_expiry = self.backlog.next_lease_expiry
        self.window_tasks = self.backlog.window_tasks
        self.add_tasks = self.backlog.add_tasks
        self.claim_task = self.backlog.claim_task
        self.expire_leases = self.backlog.expire_leases
        self.attach_run = self.backlog.attach_run
        self.renew_lease = self.backlog.renew_lease
        self.renew_held = self.backlog.renew_held
        self.settle_task = self.backlog.settle_task
        self.mark_outcome = self.backlog.mark_outcome
        self.cancel_task = self.backlog.cancel_task
        self.retry_task = self.backlog.retry_task
        self.breakers = self.backlog.breakers
        self.save_breaker = self.backlog.save_breaker

        # Messages and wakes.
        self.add_messages = self.mail.add_messages
        self.messages = self.mail.messages
        self.message = self.mail.message
        self.ack_messages = self.mail.ack_messages
        self.pending_wakes = self.mail.pending_wakes
        self.live_verified_panes = self.mail.live_verified_panes
        self.claim_wake = self.mail.claim_wake
        self.unclaim_wake = self.mail.unclaim_wake

        # The operator tools.
        self.runs_between = self.ops.runs_between
        self.last_event_id = self.ops.last_event_id
        self.event_totals = self.ops.event_totals
        self.run_totals = self.ops.run_totals
        self.agent_rows = self.ops.agent_rows
        self.record_cycle = self.ops.record_cycle
        self.cycles_since = self.ops.cycles_since
        self.task_attempts_between = self.ops.task_attempts_between
        self.dispatch_latencies = self.ops.dispatch_latencies
        self.meta_values = self.ops.meta_values
        self.meta_value = self.ops.meta_value

        # What agents of known kinds are doing.
        self.activities = self.seen_doing.activities
        self.save_activities = self.seen_doing.save_activities

    # --- the file -----------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """The open SQLite connection (opened on first use); for SQLite's own pragmas."""
        assert isinstance(self.database, Database), "a PostgreSQL store has no SQLite connection"
        return self.database.conn

    def exists(self) -> bool:
        """Whether there is a store to read (a SQLite file appears on first write)."""
        return self.url is not None or self.path.exists()

    def transaction(self) -> contextlib.AbstractContextManager[Conn]:
        return self.database.transaction()

    def check_same_file(self) -> None:
        """Reconnect if the database file was deleted or replaced under us."""
        self.database.check_same_file()

    def close(self) -> None:
        self.database.close()

    def check(self) -> list[str]:
        """SQLite's integrity check of the database: the problems, [] when it is sound."""
        from fleetctl.store.repair import check  # subprocess and shutil: kept off the status path

        return check(self.path)

    def recover(self, dest: Path) -> Recovery:
        """Copy what is readable into a new database at `dest`; this store's file is not changed."""
        from fleetctl.store.repair import recover

        self.close()
        return recover(self.path, dest)

    def permission_warning(self) -> str | None:
        """A line when other users may read the state dir, else None."""
        return state_dir_warning(self.state_dir)

    @contextlib.contextmanager
    def lock(self, blocking: bool = True) -> Iterator[bool]:
        """The fleet-wide mutation lock (reconcile, supervise ticks, up, down).

        flock is released by the kernel when its holder dies, so it can never go stale.
        """
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
