"""Each host's heartbeat and last observation, so any host can show the whole fleet.

A supervisor writes its row after every pass (`beat`); a reader judges a row by its age
against the interval the host promised, never by the row alone: a host that stopped
writing is unreachable, whatever its last observation said.
"""

from __future__ import annotations

import json

from fleetctl.record import record
from fleetctl.store.backend import Backend


@record
class HostBeat:
    name: str
    seen: float  # when it last reported
    interval: float  # how often it promised to report
    pid: int | None
    rows: tuple[dict[str, object], ...]  # its last status rows (agents, then task windows)

    def unreachable(self, now: float, missed: float = 3.0) -> bool:
        return now - self.seen > missed * self.interval + 1.0


class HostQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    def beat(self, name: str, now: float, interval: float, pid: int, rows: list[dict[str, object]] | None) -> None:
        """Record this host's heartbeat; `rows` None keeps the last observation (a quiet look)."""
        with self.db.transaction() as db:
            if rows is None:
                db.execute(
                    "INSERT INTO hosts (name, seen, interval, pid) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET seen = excluded.seen, interval = excluded.interval, pid = excluded.pid",
                    (name, now, interval, pid),
                )
            else:
                db.execute(
                    "INSERT INTO hosts (name, seen, interval, pid, observation) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET seen = excluded.seen, interval = excluded.interval, "
                    "pid = excluded.pid, observation = excluded.observation",
                    (name, now, interval, pid, json.dumps(rows)),
                )

    def beats(self) -> list[HostBeat]:
        found = self.db.rows("SELECT name, seen, interval, pid, observation FROM hosts ORDER BY name")
        return [HostBeat(n, s, i, p, tuple(json.loads(o))) for n, s, i, p, o in found]
