"""TaskBoard: the backlog as a service for the CLI, the TUI and agents that pull work.

Input is validated here, once, into NewTask records; every change is one store
transaction; every change that can free or need a slot wakes the supervise loop at once.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetctl import wake
from fleetctl.errors import ConfigError, UsageError
from fleetctl.model import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    Breaker,
    BreakerState,
    Event,
    Task,
    TaskAttempt,
    TaskState,
)
from fleetctl.store import KeyConflict, NewTask

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime

PRIORITY_MIN, PRIORITY_MAX, DEFAULT_PRIORITY = 0, 4, 2
TITLE_MAX_CHARS = 500
IMPORT_FIELDS = ("title", "body", "priority", "labels", "pool", "key")


class _Invalid(ValueError):
    def __init__(self, key: str, expected: str) -> None:
        super().__init__(expected)
        self.key = key
        self.expected = expected


class TaskBoard:
    """Add, list, claim and settle tasks of one fleet."""

    def __init__(self, fleet: Runtime) -> None:
        self.fleet = fleet
        self.store = fleet.store

    # --- adding -----------------------------------------------------------------------

    def _new(
        self,
        title: Any,
        body: Any = "",
        priority: Any = DEFAULT_PRIORITY,
        labels: Any = (),
        pool: Any = None,
        key: Any = None,
    ) -> NewTask:
        if not isinstance(title, str) or not title.strip():
            raise _Invalid("title", "a non-empty title")
        if len(title) > TITLE_MAX_CHARS:
            raise _Invalid("title", f"a title of at most {TITLE_MAX_CHARS} characters")
        if not isinstance(body, str):
            raise _Invalid("body", "a string")
        if isinstance(priority, bool) or not isinstance(priority, int) or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise _Invalid(
                "priority",
                f"an integer from {PRIORITY_MIN} (most urgent) to {PRIORITY_MAX}, got {json.dumps(priority)}",
            )
        if (
            isinstance(labels, str)
            or not isinstance(labels, list | tuple)
            or not all(isinstance(x, str) and x.strip() for x in labels)
        ):
            raise _Invalid("labels", "a list of non-empty label strings")
        max_attempts = DEFAULT_MAX_ATTEMPTS
        if pool is not None:
            spec = self.fleet.spec.pool(pool) if isinstance(pool, str) else None
            if spec is None:
                known = ", ".join(p.name for p in self.fleet.spec.pools) or "none"
                raise _Invalid("pool", f"a pool of the fleet file (pools: {known}), got {json.dumps(pool)}")
            max_attempts = spec.max_attempts
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise _Invalid("key", "a non-empty string")
        return NewTask(
            title=title.strip(),
            body=body,
            priority=priority,
            labels=tuple(x.strip() for x in labels),
            pool=pool,
            key=key,
            max_attempts=max_attempts,
        )

    def add(
        self,
        title: str,
        body: str = "",
        priority: int = DEFAULT_PRIORITY,
        labels: Sequence[str] = (),
        pool: str | None = None,
        key: str | None = None,
    ) -> int:
        """Queue one task and return its id (an open task with the same key: that task's id)."""
        try:
            item = self._new(title, body, priority, list(labels), pool, key)
        except _Invalid as exc:
            raise UsageError(f"{exc.key}: expected {exc.expected}") from None
        return self._add([item])[0]

    def import_jsonl(self, path: Path | str) -> list[int]:
        """Add every task of a JSON Lines file in one transaction; any bad line adds nothing."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(path, None, f"cannot read the task file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(path, None, "expected a UTF-8 JSON Lines file") from None
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(path, None, f"not valid JSON ({exc.msg} at column {exc.colno})", number) from None
            if not isinstance(raw, dict):
                raise ConfigError(path, None, "expected one JSON object per line", number)
            unknown = sorted(set(raw) - set(IMPORT_FIELDS))
            if unknown:
                raise ConfigError(path, unknown[0], f"unknown key; expected: {', '.join(IMPORT_FIELDS)}", number)
            if "title" not in raw:
                raise ConfigError(path, "title", "required: a non-empty title", number)
            try:
                items.append(self._new(**raw))
            except _Invalid as exc:
                raise ConfigError(path, exc.key, f"expected {exc.expected}", number) from None
        if not items:
            raise ConfigError(path, None, "no tasks in the file")
        return self._add(items)

    def _add(self, items: list[NewTask]) -> list[int]:
        now = self.fleet.now()
        added = self.store.add_tasks(items, now)
        for item, (tid, created) in zip(items, added, strict=True):
            if created:
                self.fleet.on_event(
                    Event(time=now, kind="task-added", agent=None, reason=item.title, data={"task": tid})
                )
        wake.notify(self.fleet.wake_fifo)
        return [tid for tid, _ in added]

    # --- reading ----------------------------------------------------------------------

    def list(self, state: str | None = None, pool: str | None = None) -> list[Task]:
        if state is not None and state not in {s.value for s in TaskState}:
            raise UsageError(f"no task state {state!r} (states: {', '.join(s.value for s in TaskState)})")
        return self.store.tasks(state, pool)

    def show(self, task_id: int) -> Task:
        task = self.store.task(task_id)
        if task is None:
            raise UsageError(f"no task {task_id}")
        return task

    def attempts(self, task_id: int) -> builtins.list[TaskAttempt]:
        self.show(task_id)
        return self.store.attempts(task_id)

    def counts(self) -> dict[str, int]:
        return self.store.task_counts()

    def breakers(self) -> dict[str, Breaker]:
        """Every pool's breaker (closed when it never tripped)."""
        stored = self.store.breakers()
        return {p.name: stored.get(p.name, Breaker(pool=p.name)) for p in self.fleet.spec.pools}

    # --- changing ---------------------------------------------------------------------

    def cancel(self, task_id: int) -> Task:
        task = self.store.cancel_task(task_id, self.fleet.now())
        if task is None:
            raise UsageError(f"task {task_id} is {self.show(task_id).state.value}; only an open task can be cancelled")
        wake.notify(self.fleet.wake_fifo)  # its window, if any, is closed at once
        return task

    def retry(self, task_id: int) -> Task:
        try:
            task = self.store.retry_task(task_id, self.fleet.now())
        except KeyConflict:
            raise UsageError(f"task {task_id}: another open task has its key {self.show(task_id).key!r}") from None
        if task is None:
            raise UsageError(f"task {task_id} is {self.show(task_id).state.value}; it is already queued or running")
        wake.notify(self.fleet.wake_fifo)
        return task

    def next(self, agent: str, pool: str | None = None) -> Task | None:
        """Claim the most urgent task for a long-lived agent (None: nothing queued, or the pool's breaker is open)."""
        if not agent or not agent.strip():
            raise UsageError("--agent: expected the claiming agent's name")
        spec = None
        if pool is not None:
            spec = self.fleet.spec.pool(pool)
            if spec is None:
                known = ", ".join(p.name for p in self.fleet.spec.pools) or "none"
                raise UsageError(f"no pool named {pool!r} (pools: {known})")
            if self.store.breakers().get(pool, Breaker(pool=pool)).state is BreakerState.OPEN:
                return None
        return self.store.claim_task(
            now=self.fleet.now(),
            lease=spec.lease if spec else DEFAULT_LEASE_SECONDS,
            max_attempts=spec.max_attempts if spec else DEFAULT_MAX_ATTEMPTS,
            agent=agent.strip(),
            pool=pool,
            labels=spec.labels if spec else (),
        )

    def done(self, task_id: int, result: str | None = None) -> Task:
        """The task's agent finished it. A pool task with a gate is done only when the gate passes."""
        task = self.show(task_id)
        if task.state is TaskState.DONE:
            return task
        self._must_run(task, "done")
        pool = self.fleet.spec.pool(task.pool or (task.agent or "").split(".", 1)[0])
        now = self.fleet.now()
        if task.run_id is not None and pool is not None and pool.gate:
            if self.store.mark_outcome(task.id, task.attempt, "done", result, now):
                (self.fleet.runs_dir / f"{task.run_id}.done").touch()
                return self.show(task_id)
        elif self.store.settle_task(
            task.id,
            task.attempt,
            TaskState.DONE,
            now,
            reason="reported done",
            result=result,
            event=("task-done", task.agent, "reported done", {"task": task.id, "attempt": task.attempt}),
            outcome="done",
        ):
            wake.notify(self.fleet.wake_fifo)
            return self.show(task_id)
        return self._must_run(self.show(task_id), "done")

    def fail(self, task_id: int, reason: str) -> Task:
        """The task's agent gives up on it: failed, with the reason (`task retry` queues it again)."""
        if not reason or not reason.strip():
            raise UsageError("--reason: expected why the task failed")
        task = self.show(task_id)
        if task.state is TaskState.FAILED:
            return task
        self._must_run(task, "fail")
        if self.store.settle_task(
            task.id,
            task.attempt,
            TaskState.FAILED,
            self.fleet.now(),
            reason=reason.strip(),
            event=("task-failed", task.agent, reason.strip(), {"task": task.id, "attempt": task.attempt}),
            outcome="fail",
        ):
            wake.notify(self.fleet.wake_fifo)
            return self.show(task_id)
        return self._must_run(self.show(task_id), "fail")

    @staticmethod
    def _must_run(task: Task, verb: str) -> Task:
        if task.state is not TaskState.RUNNING:
            raise UsageError(f"task {task.id} is {task.state.value}; only a running task can be marked {verb}")
        return task

    def reset_breakers(self, pools: Iterable[str]) -> None:
        """Close pools' breakers by hand (`fleetctl reset POOL`); dispatch resumes at once."""
        now = self.fleet.now()
        for name in pools:
            if self.fleet.spec.pool(name) is None:
                raise UsageError(f"no pool named {name!r}")
            self.store.save_breaker(Breaker(pool=name), ("breaker-reset", name, "closed by hand", {"pool": name}), now)
        wake.notify(self.fleet.wake_fifo)
