"""Rows to records: the column lists every query selects, and one converter per record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetctl.model import FailureClass, Message, Run, Task, TaskAttempt, TaskState

RUN_FIELDS = (
    "id",
    "agent",
    "started",
    "pid",
    "window_id",
    "pane_id",
    "respawn",
    "fallback",
    "verified",
    "ended",
    "exit_code",
    "exit_signal",
    "failure_class",
    "stopped_by",
    "stop_reason",
    "fingerprint",
    "task_id",
)
RUN_COLUMNS = ", ".join(RUN_FIELDS)
RUN_COLUMNS_OF_R = ", ".join(f"r.{name}" for name in RUN_FIELDS)  # for joins, the runs table as `r`

TASK_FIELDS = (
    "id",
    "title",
    "body",
    "priority",
    "pool",
    "key",
    "state",
    "attempt",
    "max_attempts",
    "budget_from",
    "agent",
    "run_id",
    "lease_until",
    "created",
    "updated",
    "started",
    "finished",
    "outcome",
    "result",
    "reason",
)
TASK_COLUMNS = ", ".join(TASK_FIELDS)
ATTEMPT_COLUMNS = "task_id, attempt, agent, started, run_id, ended, outcome, reason, host"
MESSAGE_COLUMNS = "id, time, sender, recipient, text, key, wake, delivered, read"


def run(row: Sequence[Any]) -> Run:
    """A Run from RUN_COLUMNS."""
    values = dict(zip(RUN_FIELDS, row, strict=False))
    values["respawn"] = bool(values["respawn"])
    values["fallback"] = bool(values["fallback"])
    failure = values["failure_class"]
    values["failure_class"] = FailureClass(failure) if failure else None
    return Run(**values)


def task(row: Sequence[Any], labels: tuple[str, ...]) -> Task:
    """A Task from TASK_COLUMNS and its labels (kept in their own table)."""
    values = dict(zip(TASK_FIELDS, row, strict=False))
    values["state"] = TaskState(values["state"])
    return Task(labels=labels, **values)


def attempt(row: Sequence[Any]) -> TaskAttempt:
    task_id, number, agent, started, run_id, ended, outcome, reason, host = row
    return TaskAttempt(
        task_id=task_id,
        attempt=number,
        agent=agent,
        started=started,
        run_id=run_id,
        ended=ended,
        outcome=outcome,
        reason=reason,
        host=host,
    )


def message(row: Sequence[Any]) -> Message:
    mid, time, sender, recipient, text, key, wake, delivered, read = row
    return Message(
        id=mid,
        time=time,
        sender=sender,
        recipient=recipient,
        text=text,
        key=key,
        wake=bool(wake),
        delivered=delivered,
        read=read,
    )
