"""Messages between agents and the wakes typed into their panes.

A (recipient, key) pair is sent once; the right to type a wake is claimed by one UPDATE,
so exactly one process types it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetctl.model import Message
from fleetctl.store import rows
from fleetctl.store.backend import Backend


class MessageQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    def add_messages(
        self, sender: str, recipients: Sequence[str], text: str, key: str | None, wake: bool, now: float
    ) -> list[tuple[int, bool]]:
        """One message per recipient; a (recipient, key) already sent gives the earlier id (created False)."""
        out = []
        with self.db.transaction() as db:
            for recipient in recipients:
                if key is not None:
                    row = db.execute(
                        "SELECT id FROM messages WHERE recipient = ? AND key = ?", (recipient, key)
                    ).fetchone()
                    if row is not None:
                        out.append((row[0], False))
                        continue
                cur = db.execute(
                    "INSERT INTO messages (time, sender, recipient, text, key, wake) VALUES (?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    (now, sender, recipient, text, key, int(wake)),
                )
                out.append((int(cur.fetchone()[0]), True))
            if wake and any(created for _, created in out):
                self.db.wake(db)
        return out

    def messages(self, recipient: str, unread: bool = False) -> list[Message]:
        query = f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE recipient = ?"
        if unread:
            query += " AND read IS NULL"
        return [rows.message(r) for r in self.db.rows(query + " ORDER BY id", (recipient,))]

    def message(self, message_id: int) -> Message | None:
        row = self.db.row(f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return rows.message(row) if row else None

    def ack_messages(self, ids: Sequence[int], now: float) -> None:
        with self.db.transaction() as db:
            db.executemany("UPDATE messages SET read = ? WHERE id = ? AND read IS NULL", [(now, i) for i in ids])

    def pending_wakes(self) -> list[Message]:
        found = self.db.rows(
            f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE wake = 1 AND delivered IS NULL ORDER BY id"
        )
        return [rows.message(r) for r in found]

    def live_verified_panes(self) -> dict[str, str]:
        """agent -> pane id of its live, verified run on this host: where a wake may be typed here."""
        return dict(
            self.db.rows(
                "SELECT agent, pane_id FROM runs WHERE ended IS NULL AND verified IS NOT NULL AND pane_id IS NOT NULL "
                "AND (? IS NULL OR host IS NULL OR host = ?) ORDER BY started",
                (self.db.host, self.db.host),
            )
        )

    def claim_wake(self, message_id: int, now: float) -> bool:
        """Take the right to type one wake into a pane: exactly one process gets True."""
        with self.db.transaction() as db:
            cur = db.execute("UPDATE messages SET delivered = ? WHERE id = ? AND delivered IS NULL", (now, message_id))
            return cur.rowcount == 1

    def unclaim_wake(self, message_id: int) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE messages SET delivered = NULL WHERE id = ?", (message_id,))
