"""Gathering: read what `count.build` needs from the fleet's store and task board; changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleetctl.model import Event
from fleetctl.report.count import TASK_STATES, build
from fleetctl.report.records import Cycles, Report
from fleetctl.taskmatch import queued_unmatched

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime

UNMATCHED_IDS = 1000  # listed in the report; the count is always exact


def load(fleet: Runtime, since: float, until: float | None = None, host: str | None = None) -> Report:
    """The report of [since, until] (until: now) from the fleet's store; `host`: only that
    host's runs, events and task attempts (on a one-machine store, the one host is all)."""
    until = fleet.now() if until is None else until
    store = fleet.store
    exists = store.exists()
    only = host if fleet.spec.store else None  # SQLite records no host: everything is this host's
    events = _all_events(fleet, since) if exists else []
    if only is not None:
        events = [e for e in events if e.host == only]
    runs = store.runs_between(since, until, only) if exists else []
    names = [a.name for a in fleet.spec.agents] if host in (None, fleet.spec.host) else []
    if only is not None:
        names += sorted(({r.agent for r in runs} | {e.agent for e in events if e.agent}) - set(names))
    rows = store.agent_rows() if exists else {}
    failed_now = {name: reason for name, (_desired, reason) in rows.items() if reason}
    if only is not None:
        failed_now = {name: reason for name, reason in failed_now.items() if name in names}
    total, busy, seconds = store.cycles_since(since) if exists else (0, 0, 0.0)
    tasks, states = _task_counts(fleet, events)
    attempts = store.task_attempts_between(since, until, only) if exists else []
    unmatched_count, unmatched_ids = queued_unmatched(store, fleet.spec.pools, UNMATCHED_IDS)
    return build(
        fleet.spec.name,
        since,
        until,
        events,
        runs,
        agent_names=names,
        pool_names=[p.name for p in fleet.spec.pools],
        failed_now=failed_now,
        cycles=Cycles(total=total, busy=busy, seconds=seconds),
        tasks=tasks,
        task_states=states,
        attempts=attempts,
        unmatched_tasks=unmatched_ids,
        unmatched_count=unmatched_count,
    )


def _all_events(fleet: Runtime, since: float, page: int = 50_000) -> list[Event]:
    """Every event since `since`, fetched in pages (store.events caps one query)."""
    out: list[Event] = []
    after = 0
    while True:
        batch = fleet.store.events(since=since, after_id=after, limit=page)
        out += batch
        if len(batch) < page:
            return out
        after = batch[-1].id


def _task_counts(fleet: Runtime, events: Sequence[Event]) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """Task changes in the window (from task-* events) and the board now."""
    from fleetctl.tasks import TaskBoard

    states = dict(TaskBoard(fleet).counts()) if fleet.store.exists() else {}
    changes = dict.fromkeys(TASK_STATES, 0)
    for e in events:
        if e.kind.startswith("task-"):
            what = e.kind.removeprefix("task-")
            changes[what] = changes.get(what, 0) + 1
    return changes, states
