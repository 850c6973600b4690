"""task (add, import, list, show, diff, cancel, retry, next, renew, done, fail, accept, reject, prune):
parse, call the task board, render."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

import click

from fleetctl.cli.base import EXIT_OK, MAX_TEXT_BYTES, TEXT, FleetContext, LazyGroup, command, pass_fleet
from fleetctl.model import Task, TaskState

if TYPE_CHECKING:
    from fleetctl.tasks import TaskBoard

TASK_SCHEMA_VERSION = 1
_STATES = [s.value for s in TaskState]
_LIMIT = f"at most {MAX_TEXT_BYTES // 1024} KiB"

_SUBCOMMANDS = (
    "add",
    "import",
    "list",
    "show",
    "diff",
    "cancel",
    "retry",
    "next",
    "renew",
    "done",
    "fail",
    "accept",
    "reject",
    "prune",
)
_REVIEW = ("show", "diff", "accept", "reject", "prune")  # in fleetctl.cli.task_review

task = LazyGroup(
    name="task",
    lazy_subcommands={
        name: f"fleetctl.cli.{'task_review' if name in _REVIEW else 'tasks'}:task_{name}" for name in _SUBCOMMANDS
    },
    help="""The backlog: add tasks, watch them, and (for agents) claim and finish them.

    \b
    Examples:
      fleetctl task add "Fix the flaky test" --priority 1 --label python
      fleetctl task import backlog.jsonl
      fleetctl task list --state queued
      fleetctl task next --agent worker-1 --json
      fleetctl task done 17 --result "merged in #42"
      fleetctl task accept 17
      fleetctl task reject 18 --requeue --note "the test still fails on CI"
    """,
)


def _board(ctx: FleetContext, **kwargs: Any) -> TaskBoard:
    from fleetctl.tasks import TaskBoard

    return TaskBoard(ctx.fleet(**kwargs))


def _agent(agent: str | None) -> str | None:
    """The calling agent: --agent, else FLEET_AGENT (set in every agent and task window)."""
    return agent if agent is not None else (os.environ.get("FLEET_AGENT") or None)


def _lease(text: str | None) -> float | None:
    from fleetctl.errors import UsageError
    from fleetctl.spec_keys import parse_duration

    if text is None:
        return None
    try:
        lease = parse_duration(text)
    except (ValueError, TypeError):
        lease = None
    if lease is None or lease <= 0:
        raise UsageError(f'--lease: expected a duration such as "30m", got {text!r}')
    return lease


def _reviewer(by: str | None) -> str:
    import getpass

    if by is not None:
        return by
    try:
        return os.environ.get("FLEET_AGENT") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _task_id(task_id: int | None) -> int:
    """An explicit id, else the task of the window we run in ($FLEET_TASK)."""
    from fleetctl.errors import UsageError

    if task_id is not None:
        return task_id
    env = os.environ.get("FLEET_TASK", "")
    if not env.isdigit():
        raise UsageError("ID: expected a task id (or run inside a task window, where FLEET_TASK is set)")
    return int(env)


@command(name="add")
@click.argument("title", metavar="TITLE")
@click.option("--body", type=TEXT, metavar="TEXT", help=f"The task's text ({_LIMIT}).")
@click.option("--body-file", type=click.Path(dir_okay=False), metavar="FILE", help="Read the body from a file.")
@click.option("--priority", type=int, default=2, show_default=True, help="0 (most urgent) to 4.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="TEXT",
    help="A label (repeatable); pools with labels take matching tasks.",
)
@click.option("--pool", metavar="TEXT", help="Only this pool runs the task.")
@click.option("--key", metavar="TEXT", help="Deduplicate: while a task with this key is open, print its id.")
@click.option("--acceptance", type=TEXT, metavar="TEXT", help="Acceptance criteria (given to the agent).")
@pass_fleet
def task_add(
    ctx: FleetContext,
    title: str,
    body: str | None,
    body_file: str | None,
    priority: int,
    labels: tuple[str, ...],
    pool: str | None,
    key: str | None,
    acceptance: str | None,
) -> int:
    """Queue a task and print its id.

    A title holds at most 500 characters, a body at most 64 KiB (UTF-8); a longer one is refused.
    """
    from fleetctl.errors import UsageError

    if body is not None and body_file is not None:
        raise UsageError("--body and --body-file: give one of them")
    if body_file is not None:
        body = _read_body(body_file)
    board = _board(ctx)
    tid = board.add(title, body or "", priority, labels, pool, key, acceptance or "")
    print(tid)
    _warn_unmatched(board, [tid])
    return EXIT_OK


def _warn_unmatched(board: TaskBoard, ids: list[int]) -> None:
    """One warning line (stderr, exit 0) per new task no pool takes: it would wait silently."""
    import sys

    from fleetctl.cli.render import printable
    from fleetctl.taskmatch import warnings

    for line in warnings(board.fleet, ids):
        print(printable(line), file=sys.stderr)


def _read_body(path: str) -> str:
    """A --body-file's text, refused (one line) when it is over the limit or not UTF-8."""
    from fleetctl.errors import UsageError

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TEXT_BYTES + 1)
        if len(data) > MAX_TEXT_BYTES:
            raise UsageError(
                f"--body-file {path}: over the limit of {_LIMIT.removeprefix('at most ')}; nothing was changed",
                hint="keep long material in a file the task names, not in the task itself",
            )
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--body-file {path}: cannot read it ({exc})") from None


@command(name="import")
@click.argument("path", type=click.Path(dir_okay=False), metavar="PATH")
@pass_fleet
def task_import(ctx: FleetContext, path: str) -> int:
    """Add every task of a JSON Lines file (title, body, priority, labels, pool, key, acceptance), all or nothing."""
    board = _board(ctx)
    ids = board.import_jsonl(path)
    for tid in ids:
        print(tid)
    _warn_unmatched(board, ids)
    return EXIT_OK


@command(name="list")
@click.option("--state", type=click.Choice(_STATES), help="Only tasks in this state.")
@click.option("--pool", metavar="TEXT", help="Only tasks of this pool.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of tasks (stable keys).")
@pass_fleet
def task_list(ctx: FleetContext, state: str | None, pool: str | None, as_json: bool) -> int:
    """List tasks: running first, then queued by priority, then the rest.

    Control characters in titles and reasons are shown escaped (\\x1b); --json keeps the exact text.
    """
    from fleetctl.cli.render import table

    tasks = _board(ctx).list(state, pool)
    if as_json:
        print(json.dumps([t.as_json() for t in tasks], indent=1))
        return EXIT_OK
    rows = [
        [
            t.id,
            t.state.value,
            t.priority,
            t.pool,
            t.attempt,
            t.agent if t.state is TaskState.RUNNING else None,
            _short(t.title, 50),
            _short(t.reason or "", 60),
        ]
        for t in tasks
    ]
    print(table(["ID", "STATE", "PRI", "POOL", "ATTEMPT", "AGENT", "TITLE", "REASON"], rows))
    return EXIT_OK


@command(name="cancel")
@click.argument("task_id", type=int, metavar="ID")
@pass_fleet
def task_cancel(ctx: FleetContext, task_id: int) -> int:
    """Cancel an open task (a running one's window is closed)."""
    t = _board(ctx).cancel(task_id)
    print(f"task {t.id} cancelled")
    return EXIT_OK


@command(name="retry")
@click.argument("task_id", type=int, metavar="ID")
@pass_fleet
def task_retry(ctx: FleetContext, task_id: int) -> int:
    """Queue a finished task again, with a fresh attempt budget."""
    t = _board(ctx).retry(task_id)
    print(f"task {t.id} queued")
    return EXIT_OK


@command(name="next")
@click.option("--agent", required=True, metavar="TEXT", help="Who claims the task (holds its lease).")
@click.option("--pool", metavar="TEXT", help="Claim from this pool's tasks (default: tasks with no pool).")
@click.option("--lease", "lease_text", metavar="DURATION", help="How long the claim holds (default: the pool's lease).")
@click.option("--json", "as_json", is_flag=True, help="Indented JSON (the output is JSON either way).")
@pass_fleet
def task_next(ctx: FleetContext, agent: str, pool: str | None, lease_text: str | None, as_json: bool) -> int:
    """Claim the most urgent queued task and print it as JSON (`null` when there is none).

    The claim holds for the lease; `task renew` (or `fleetctl heartbeat` in a task window) extends it.
    """
    t = _board(ctx, actor=agent).next(agent, pool, _lease(lease_text))
    payload = None if t is None else _claimed(t)
    print(json.dumps(payload, indent=1 if as_json else None))
    return EXIT_OK


def _claimed(t: Task) -> dict[str, object]:
    return {
        "id": t.id,
        "title": t.title,
        "body": t.body,
        "labels": list(t.labels),
        "attempt": t.attempt,
        "priority": t.priority,
        "pool": t.pool,
        "lease_until": t.lease_until,
    }


@command(name="renew")
@click.argument("task_id", type=int, required=False, metavar="[ID]")
@click.option("--agent", metavar="TEXT", help="The agent holding the task (default $FLEET_AGENT).")
@click.option("--lease", "lease_text", metavar="DURATION", help="The new lease from now (default: the pool's lease).")
@pass_fleet
def task_renew(ctx: FleetContext, task_id: int | None, agent: str | None, lease_text: str | None) -> int:
    """Extend the lease on a task the caller holds. ID defaults to $FLEET_TASK.

    Exit 1 when the lease has already passed to another claimer (the message names it).
    """
    from fleetctl.errors import UsageError

    who = _agent(agent)
    if who is None:
        raise UsageError("--agent: expected the agent holding the task (or run inside an agent: FLEET_AGENT)")
    t = _board(ctx, actor=who).renew(_task_id(task_id), who, _lease(lease_text))
    until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t.lease_until or 0))
    print(f"task {t.id} held by {t.agent} until {until}")
    return EXIT_OK


@command(name="done")
@click.argument("task_id", type=int, required=False, metavar="[ID]")
@click.option("--result", type=TEXT, metavar="TEXT", help=f"What came of it (a PR, a summary; {_LIMIT}).")
@click.option("--agent", metavar="TEXT", help="Who reports (default $FLEET_AGENT); refused if another holds it.")
@pass_fleet
def task_done(ctx: FleetContext, task_id: int | None, result: str | None, agent: str | None) -> int:
    """Mark a running task done (in a pool with a gate: done once the gate passes). ID defaults to $FLEET_TASK.

    Exit 1 when the lease has passed to another claimer (the message names it).
    """
    t = _board(ctx).done(_task_id(task_id), result, _agent(agent))
    print(f"task {t.id} {'done' if t.state is TaskState.DONE else 'reported done; the gate decides'}")
    return EXIT_OK


@command(name="fail")
@click.argument("task_id", type=int, required=False, metavar="[ID]")
@click.option(
    "--reason",
    type=TEXT,
    required=True,
    metavar="TEXT",
    help=f"Why it failed (shown in task show and report; {_LIMIT}).",
)
@click.option("--agent", metavar="TEXT", help="Who reports (default $FLEET_AGENT); refused if another holds it.")
@pass_fleet
def task_fail(ctx: FleetContext, task_id: int | None, reason: str, agent: str | None) -> int:
    """Mark a running task failed (`task retry` queues it again). ID defaults to $FLEET_TASK.

    Exit 1 when the lease has passed to another claimer (the message names it).
    """
    t = _board(ctx).fail(_task_id(task_id), reason, _agent(agent))
    print(f"task {t.id} failed")
    return EXIT_OK


def _short(text: str, width: int) -> str:
    """One line of at most width characters (the table escapes what is left of control characters)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
