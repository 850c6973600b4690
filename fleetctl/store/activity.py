"""What each agent of a known kind was last seen doing: one row per agent, written by the
supervision pass (fleetctl.runtime.activity) and read by `status` without touching tmux."""

from __future__ import annotations

from fleetctl.model import ActivityRow
from fleetctl.store.backend import Backend

_COLUMNS = (
    "agent, activity, detail, reset_at, since, evidence, pane_id, pane_activity, looked, tree_cpu, nudged, nudges, "
    "progress, progressed"
)


class ActivityQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    def activities(self) -> dict[str, ActivityRow]:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM agent_activity")
        return {row[0]: ActivityRow(*row) for row in rows}

    def save_activities(self, rows: list[ActivityRow]) -> None:
        """Write the rows of one pass in one transaction."""
        if not rows:
            return
        names = [c.strip() for c in _COLUMNS.split(",")]
        marks = ", ".join("?" for _ in names)
        updates = ", ".join(f"{c} = excluded.{c}" for c in names[1:])
        values = [
            (
                r.agent,
                r.activity,
                r.detail,
                r.reset_at,
                r.since,
                r.evidence,
                r.pane_id,
                r.pane_activity,
                r.looked,
                r.tree_cpu,
                r.nudged,
                r.nudges,
                r.progress,
                r.progressed,
            )
            for r in rows
        ]
        with self.db.transaction() as db:
            db.executemany(
                f"INSERT INTO agent_activity ({_COLUMNS}) VALUES ({marks}) ON CONFLICT (agent) DO UPDATE SET {updates}",
                values,
            )

    def forget_activity(self, agents: list[str]) -> None:
        with self.db.transaction() as db:
            db.executemany("DELETE FROM agent_activity WHERE agent = ?", [(a,) for a in agents])
