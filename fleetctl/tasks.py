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
from fleetctl.errors import ConfigError, OperationFailed, UsageError
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
from fleetctl.store.review import AttemptResult, TaskWork

if TYPE_CHECKING:
    from fleetctl.review import Prunable
    from fleetctl.runtime.context import Runtime

PRIORITY_MIN, PRIORITY_MAX, DEFAULT_PRIORITY = 0, 4, 2
TITLE_MAX_CHARS = 500
IMPORT_FIELDS = ("title", "body", "priority", "labels", "pool", "key", "acceptance")


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
        acceptance: Any = "",
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
        if not isinstance(acceptance, str):
            raise _Invalid("acceptance", "a string (the acceptance criteria)")
        return NewTask(
            title=title.strip(),
            body=body,
            priority=priority,
            labels=tuple(x.strip() for x in labels),
            pool=pool,
            key=key,
            max_attempts=max_attempts,
            acceptance=acceptance.strip(),
        )

    def add(
        self,
        title: str,
        body: str = "",
        priority: int = DEFAULT_PRIORITY,
        labels: Sequence[str] = (),
        pool: str | None = None,
        key: str | None = None,
        acceptance: str = "",
    ) -> int:
        """Queue one task and return its id (an open task with the same key: that task's id)."""
        try:
            item = self._new(title, body, priority, list(labels), pool, key, acceptance)
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

    def next(self, agent: str, pool: str | None = None, lease: float | None = None) -> Task | None:
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
            lease=lease if lease is not None else (spec.lease if spec else DEFAULT_LEASE_SECONDS),
            max_attempts=spec.max_attempts if spec else DEFAULT_MAX_ATTEMPTS,
            agent=agent.strip(),
            pool=pool,
            labels=spec.labels if spec else (),
        )

    def done(self, task_id: int, result: str | None = None, agent: str | None = None) -> Task:
        """The task's agent finished it. A pool task with a gate is done only when the gate passes.

        With `agent`, only while that agent holds the task (its lease may have passed to another).
        """
        task = self.show(task_id)
        if task.state is TaskState.DONE and agent in (None, task.agent):
            return task
        self._must_hold(task, agent)
        self._must_run(task, "done")
        pool = self.fleet.spec.pool(task.pool or (task.agent or "").split(".", 1)[0])
        now = self.fleet.now()
        if task.run_id is not None and pool is not None and pool.gate:
            if self.store.mark_outcome(task.id, task.attempt, "done", result, now, holder=agent):
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
            holder=agent,
        ):
            wake.notify(self.fleet.wake_fifo)
            return self.show(task_id)
        return self._must_run(self._must_hold(self.show(task_id), agent), "done")

    def fail(self, task_id: int, reason: str, agent: str | None = None) -> Task:
        """The task's agent gives up on it: failed, with the reason (`task retry` queues it again)."""
        if not reason or not reason.strip():
            raise UsageError("--reason: expected why the task failed")
        task = self.show(task_id)
        if task.state is TaskState.FAILED and agent in (None, task.agent):
            return task
        self._must_hold(task, agent)
        self._must_run(task, "fail")
        if self.store.settle_task(
            task.id,
            task.attempt,
            TaskState.FAILED,
            self.fleet.now(),
            reason=reason.strip(),
            event=("task-failed", task.agent, reason.strip(), {"task": task.id, "attempt": task.attempt}),
            outcome="fail",
            holder=agent,
        ):
            wake.notify(self.fleet.wake_fifo)
            return self.show(task_id)
        return self._must_run(self._must_hold(self.show(task_id), agent), "fail")

    def renew(self, task_id: int, agent: str, lease: float | None = None) -> Task:
        """Extend the lease the calling agent holds (a long task keeps its claim)."""
        if not agent or not agent.strip():
            raise UsageError("--agent: expected the agent holding the task (or run inside an agent: FLEET_AGENT)")
        task = self.show(task_id)
        now = self.fleet.now()
        if lease is None:
            pool = self.fleet.spec.pool(task.pool or (task.agent or "").split(".", 1)[0])
            lease = pool.lease if pool is not None else DEFAULT_LEASE_SECONDS
        if not self.store.renew_held(task_id, agent.strip(), now + lease, now):
            task = self._must_hold(self.show(task_id), agent.strip())
            raise UsageError(f"task {task_id} is {task.state.value}; only a running task's lease can be renewed")
        return self.show(task_id)

    @staticmethod
    def _must_hold(task: Task, agent: str | None) -> Task:
        """With a caller named, the task must still be its own: exit 1 naming who holds it now."""
        if agent is None or task.agent == agent:
            return task
        if task.state is TaskState.RUNNING and task.agent:
            raise OperationFailed(
                f"task {task.id} is held by {task.agent} now (attempt {task.attempt}), not by {agent}; "
                "nothing was changed",
                hint="the lease ran out and another claimer took the task; `fleetctl task renew` keeps a lease",
            )
        if task.state is TaskState.QUEUED:
            why = task.reason or "its lease expired"
            raise OperationFailed(f"task {task.id} is queued again ({why}); {agent} no longer holds it")
        return task

    @staticmethod
    def _must_run(task: Task, verb: str) -> Task:
        if task.state is not TaskState.RUNNING:
            raise UsageError(f"task {task.id} is {task.state.value}; only a running task can be marked {verb}")
        return task

    # --- review ----------------------------------------------------------------------

    def accept(self, task_id: int, by: str, note: str | None = None) -> Task:
        """A person accepts work waiting for review: done (with the pool's on_done, a merge or a PR)."""
        from fleetctl import review

        task = self._must_review(self.show(task_id), "accepted")
        pool = self.fleet.spec.pool(task.pool or (task.agent or "").split(".", 1)[0])
        result = None
        if pool is not None:
            problem, result = review.on_done(self.fleet, pool, task)
            if problem is not None:
                raise OperationFailed(f"task {task_id} stays needs-review: {problem}")
        done = self.store.review.review(
            task_id, TaskState.DONE, by, note, self.fleet.now(), ("needs-review",), result=result
        )
        return done if done is not None else self._must_review(self.show(task_id), "accepted")

    def reject(self, task_id: int, by: str, note: str | None = None, requeue: bool = False) -> Task:
        """A person rejects work waiting for review: failed, or queued again with a fresh attempt budget."""
        if note is not None and not note.strip():
            raise UsageError("--note: expected what is wrong with the work")
        self._must_review(self.show(task_id), "rejected")
        state = TaskState.QUEUED if requeue else TaskState.FAILED
        now = self.fleet.now()
        task = self.store.review.review(task_id, state, by, note.strip() if note else None, now, ("needs-review",))
        if task is None:
            return self._must_review(self.show(task_id), "rejected")
        wake.notify(self.fleet.wake_fifo)
        return task

    @staticmethod
    def _must_review(task: Task, verb: str) -> Task:
        if task.state is not TaskState.NEEDS_REVIEW:
            raise UsageError(f"task {task.id} is {task.state.value}; only a needs-review task can be {verb}")
        return task

    def work(self, task_id: int) -> TaskWork:
        self.show(task_id)
        return self.store.review.work(task_id)

    def attempt_results(self, task_id: int) -> dict[int, AttemptResult]:
        return self.store.review.attempt_results(task_id)

    def diff(self, task_id: int, stat: bool = False) -> str:
        """The task's changes against the commit its worktree started from (new files included)."""
        from fleetctl import worktree

        work = self.work(task_id)
        if work.base is None:
            raise UsageError(f"task {task_id} has no worktree (its pool has no worktree workspace, or it never ran)")
        if work.worktree and Path(work.worktree).exists():
            return worktree.diff(Path(work.worktree), work.base, stat)
        pool = self.fleet.spec.pool(self.show(task_id).pool or "") or next(
            (p for p in self.fleet.spec.pools if work.worktree and Path(work.worktree).parent.name == p.name), None
        )
        if work.merged and pool is not None:
            return worktree.diff_commits(pool.repo, work.base, work.merged, stat)
        raise OperationFailed(f"task {task_id}: its worktree {work.worktree} is gone (pruned)")

    def prune(self, dry_run: bool = False) -> builtins.list[Prunable]:
        from fleetctl import review

        return review.prune(self.fleet, dry_run)

    def reset_breakers(self, pools: Iterable[str]) -> None:
        """Close pools' breakers by hand (`fleetctl reset POOL`); dispatch resumes at once."""
        now = self.fleet.now()
        for name in pools:
            if self.fleet.spec.pool(name) is None:
                raise UsageError(f"no pool named {name!r}")
            self.store.save_breaker(Breaker(pool=name), ("breaker-reset", name, "closed by hand", {"pool": name}), now)
        wake.notify(self.fleet.wake_fifo)
