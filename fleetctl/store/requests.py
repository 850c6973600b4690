"""Requests from one host to another: `restart` or `stop` an agent that the other host runs.

A request is a row: the asking host writes it (and NOTIFYs, so the other host's supervisor
wakes at once), the host that runs the agent takes it in one UPDATE (so it is carried out
once), carries it out and writes the result back. A request not yet taken can be withdrawn,
so one the asker gave up on is never carried out later by surprise.
"""

from __future__ import annotations

from fleetctl.record import record
from fleetctl.store.backend import Backend

_COLUMNS = "id, time, host, agent, action, sender, taken, finished, ok, result"


@record
class Request:
    id: int
    time: float
    host: str  # the host asked to act (the one that runs the agent)
    agent: str
    action: str  # "restart" or "stop"
    sender: str
    taken: float | None
    finished: float | None
    ok: bool | None
    result: str


def _request(row: tuple[object, ...]) -> Request:
    rid, time, host, agent, action, sender, taken, finished, ok, result = row
    return Request(
        id=int(str(rid)),
        time=float(str(time)),
        host=str(host),
        agent=str(agent),
        action=str(action),
        sender=str(sender),
        taken=None if taken is None else float(str(taken)),
        finished=None if finished is None else float(str(finished)),
        ok=None if ok is None else bool(ok),
        result=str(result),
    )


class RequestQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    def ask(self, host: str, agent: str, action: str, sender: str, now: float) -> int:
        """Write a request for `host` and wake every supervisor; returns its id."""
        with self.db.transaction() as db:
            cur = db.execute(
                "INSERT INTO requests (time, host, agent, action, sender) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (now, host, agent, action, sender),
            )
            rid = int(cur.fetchone()[0])
            self.db.wake(db)
        return rid

    def take(self, host: str, now: float, since: float) -> list[Request]:
        """The requests for `host` asked since `since` and not yet taken, now taken by the caller."""
        with self.db.transaction() as db:
            found = db.execute(
                f"UPDATE requests SET taken = ? WHERE host = ? AND taken IS NULL AND time >= ? RETURNING {_COLUMNS}",
                (now, host, since),
            ).fetchall()
        return sorted((_request(tuple(r)) for r in found), key=lambda r: r.id)

    def finish(self, rid: int, ok: bool, result: str, now: float) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE requests SET finished = ?, ok = ?, result = ? WHERE id = ?", (now, int(ok), result, rid))

    def withdraw(self, rid: int, now: float) -> bool:
        """Give up on a request no host has taken; False when it was taken meanwhile."""
        with self.db.transaction() as db:
            cur = db.execute(
                "UPDATE requests SET taken = ?, finished = ?, ok = 0, result = 'withdrawn' "
                "WHERE id = ? AND taken IS NULL",
                (now, now, rid),
            )
            return cur.rowcount == 1

    def get(self, rid: int) -> Request | None:
        row = self.db.row(f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (rid,))
        return None if row is None else _request(tuple(row))
