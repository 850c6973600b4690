"""A task's life after a run: its workspace, each attempt's result, review, merge and pruning.

Kept in their own tables (task_work, attempt_results) so the tasks table and its record stay
as they are; every review is one transaction that also writes its event.
"""

from __future__ import annotations

from typing import Any

from fleetctl.model import Task, TaskState
from fleetctl.record import record
from fleetctl.store import rows
from fleetctl.store.backend import Backend
from fleetctl.store.tasks import add_event

WORK_FIELDS = ("acceptance", "worktree", "branch", "base", "reviewed_by", "reviewed_at", "merged", "pruned")


@record
class TaskWork:
    """Where a task's work is (worktree, branch, base commit) and what became of it."""

    task_id: int
    acceptance: str = ""
    worktree: str | None = None
    branch: str | None = None
    base: str | None = None
    reviewed_by: str | None = None
    reviewed_at: float | None = None
    merged: str | None = None
    pruned: float | None = None


@record
class AttemptResult:
    """How one attempt's run ended and what its gate said (`gate_tail`: the gate log's last lines)."""

    task_id: int
    attempt: int
    exit_code: int | None = None
    exit_signal: int | None = None
    cls: str = ""
    gate_code: int | None = None
    gate_tail: str = ""


class ReviewQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    def work(self, task_id: int) -> TaskWork:
        row = self.db.row(f"SELECT {', '.join(WORK_FIELDS)} FROM task_work WHERE task_id = ?", (task_id,))
        if row is None:
            return TaskWork(task_id=task_id)
        return TaskWork(task_id=task_id, **dict(zip(WORK_FIELDS, row, strict=True)))

    def works(self) -> list[TaskWork]:
        found = self.db.rows(f"SELECT task_id, {', '.join(WORK_FIELDS)} FROM task_work ORDER BY task_id")
        return [TaskWork(task_id=r[0], **dict(zip(WORK_FIELDS, r[1:], strict=True))) for r in found]

    def set_work(self, task_id: int, **values: Any) -> None:
        """Set some of a task's work fields (the others keep their value)."""
        unknown = set(values) - set(WORK_FIELDS)
        assert not unknown, unknown
        names = sorted(values)
        updates = ", ".join(f"{n} = excluded.{n}" for n in names)
        with self.db.transaction() as db:
            db.execute(
                f"INSERT INTO task_work (task_id, {', '.join(names)}) VALUES (?{', ?' * len(names)}) "
                f"ON CONFLICT (task_id) DO UPDATE SET {updates}",
                (task_id, *(values[n] for n in names)),
            )

    def record_attempt(self, result: AttemptResult) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO attempt_results (task_id, attempt, exit_code, exit_signal, class, gate_code, gate_tail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, attempt) DO UPDATE SET "
                "exit_code = excluded.exit_code, exit_signal = excluded.exit_signal, class = excluded.class, "
                "gate_code = excluded.gate_code, gate_tail = excluded.gate_tail",
                (
                    result.task_id,
                    result.attempt,
                    result.exit_code,
                    result.exit_signal,
                    result.cls,
                    result.gate_code,
                    result.gate_tail,
                ),
            )

    def attempt_results(self, task_id: int) -> dict[int, AttemptResult]:
        found = self.db.rows(
            "SELECT attempt, exit_code, exit_signal, class, gate_code, gate_tail FROM attempt_results "
            "WHERE task_id = ? ORDER BY attempt",
            (task_id,),
        )
        return {
            a: AttemptResult(
                task_id=task_id, attempt=a, exit_code=code, exit_signal=sig, cls=cls, gate_code=gate, gate_tail=tail
            )
            for a, code, sig, cls, gate, tail in found
        }

    def review(
        self,
        task_id: int,
        state: TaskState,
        by: str,
        note: str | None,
        now: float,
        from_states: tuple[str, ...],
        result: str | None = None,
    ) -> Task | None:
        """A person's verdict on a task waiting for review: done, failed, or queued again (fresh budget).

        Returns None when the task was not in one of `from_states` (someone else decided first).
        """
        verb = {TaskState.DONE: "accepted", TaskState.FAILED: "rejected", TaskState.QUEUED: "rejected, re-queued"}
        reason = f"{verb[state]} by {by}" + (f": {note}" if note else "")
        final = state.terminal
        marks = ",".join("?" * len(from_states))
        with self.db.transaction() as db:
            row = db.execute(
                "UPDATE tasks SET state = ?, updated = ?, reason = ?, finished = ?, lease_until = NULL, "
                "result = COALESCE(?, result), "
                "outcome = ?, agent = CASE WHEN ? THEN agent ELSE NULL END, "
                "run_id = CASE WHEN ? THEN run_id ELSE NULL END, "
                "budget_from = CASE WHEN ? = 'queued' THEN attempt ELSE budget_from END "
                f"WHERE id = ? AND state IN ({marks}) RETURNING {rows.TASK_COLUMNS}",
                (
                    state.value,
                    now,
                    reason,
                    now if final else None,
                    result,
                    verb[state].split(",")[0],
                    final,
                    final,
                    state.value,
                    task_id,
                    *from_states,
                ),
            ).fetchone()
            if row is None:
                return None
            task = rows.task(row, ())
            if note:  # the next attempt's task file carries it with the earlier failure reasons
                db.execute(
                    "UPDATE task_attempts SET reason = COALESCE(reason || '; ', '') || ? "
                    "WHERE task_id = ? AND attempt = ?",
                    (f"review: {note}", task_id, task.attempt),
                )
            db.execute(
                "INSERT INTO task_work (task_id, reviewed_by, reviewed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (task_id) DO UPDATE SET reviewed_by = excluded.reviewed_by, "
                "reviewed_at = excluded.reviewed_at",
                (task_id, by, now),
            )
            kind = "task-accepted" if state is TaskState.DONE else "task-rejected"
            data: dict[str, object] = {"task": task_id, "attempt": task.attempt, "by": by, "state": state.value}
            add_event(db, now, kind, by, reason, data)
            return task
