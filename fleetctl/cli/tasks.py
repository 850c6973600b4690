"""task (add, import, list, show, cancel, retry, next, done, fail), send and inbox: parse, call, render."""

from __future__ import annotations

import argparse
import json
import os
import time

from fleetctl.cli import EXIT_OK, Context, arg, command
from fleetctl.model import Task, TaskState

TASK_SCHEMA_VERSION = 1
_STATES = [s.value for s in TaskState]
TASK_ID = arg("task_id", metavar="ID", type=int)
TASK_ID_OR_ENV = arg("task_id", metavar="ID", type=int, nargs="?")


def _file(text: str) -> str:
    """A path to a file: it may not exist yet, but it must not be a directory."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"File {text!r} is a directory.")
    return text


def _board(ctx: Context, **kwargs: object):  # type: ignore[no-untyped-def]
    from fleetctl.tasks import TaskBoard

    return TaskBoard(ctx.fleet(**kwargs))


def _task_id(task_id: int | None) -> int:
    """An explicit id, else the task of the window we run in ($FLEET_TASK)."""
    from fleetctl.errors import UsageError

    if task_id is not None:
        return task_id
    env = os.environ.get("FLEET_TASK", "")
    if not env.isdigit():
        raise UsageError("ID: expected a task id (or run inside a task window, where FLEET_TASK is set)")
    return int(env)


@command("task", group=True)
def task() -> None:
    """The backlog: add tasks, watch them, and (for agents) claim and finish them.

    Examples:
      fleetctl task add "Fix the flaky test" --priority 1 --label python
      fleetctl task import backlog.jsonl
      fleetctl task list --state queued
      fleetctl task next --agent worker-1 --json
      fleetctl task done 17 --result "merged in #42"
    """


@command(
    "task add",
    arg("title", metavar="TITLE"),
    arg("--body", metavar="TEXT", help="The task's text."),
    arg("--body-file", type=_file, metavar="FILE", help="Read the body from a file."),
    arg("--priority", type=int, default=2, metavar="INTEGER", help="0 (most urgent) to 4. [default: 2]"),
    arg("--label", dest="labels", action="append", default=[], metavar="TEXT",
        help="A label (repeatable); pools with labels take matching tasks."),
    arg("--pool", metavar="TEXT", help="Only this pool runs the task."),
    arg("--key", metavar="TEXT", help="Deduplicate: while a task with this key is open, print its id."),
)  # fmt: skip
def task_add(ctx: Context, title: str, body: str | None, body_file: str | None, priority: int,
             labels: tuple[str, ...], pool: str | None, key: str | None) -> int:  # fmt: skip
    """Queue a task and print its id."""
    from fleetctl.errors import UsageError

    if body is not None and body_file is not None:
        raise UsageError("--body and --body-file: give one of them")
    if body_file is not None:
        try:
            body = open(body_file, encoding="utf-8").read()  # noqa: SIM115
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--body-file {body_file}: cannot read it ({exc})") from None
    print(_board(ctx).add(title, body or "", priority, labels, pool, key))
    return EXIT_OK


@command("task import", arg("path", type=_file, metavar="PATH"))
def task_import(ctx: Context, path: str) -> int:
    """Add every task of a JSON Lines file (title, body, priority, labels, pool, key), all or nothing."""
    for tid in _board(ctx).import_jsonl(path):
        print(tid)
    return EXIT_OK


@command(
    "task list",
    arg("--state", choices=_STATES, help="Only tasks in this state."),
    arg("--pool", metavar="TEXT", help="Only tasks of this pool."),
    arg("--json", dest="as_json", action="store_true", help="A JSON list of tasks (stable keys)."),
)
def task_list(ctx: Context, state: str | None, pool: str | None, as_json: bool) -> int:
    """List tasks: running first, then queued by priority, then the rest."""
    from fleetctl.cli.render import table

    tasks = _board(ctx).list(state, pool)
    if as_json:
        print(json.dumps([t.as_json() for t in tasks], indent=1))
        return EXIT_OK
    print(table(["ID", "STATE", "PRI", "POOL", "ATTEMPT", "AGENT", "TITLE", "REASON"],
                [[t.id, t.state.value, t.priority, t.pool, t.attempt, t.agent if t.state is TaskState.RUNNING
                  else None, _short(t.title, 50), _short(t.reason or "", 60)] for t in tasks]))  # fmt: skip
    return EXIT_OK


@command("task show", TASK_ID, arg("--json", dest="as_json", action="store_true",
                                    help="One JSON object, with its attempts."))  # fmt: skip
def task_show(ctx: Context, task_id: int, as_json: bool) -> int:
    """Show one task and every attempt at it."""
    board = _board(ctx)
    t = board.show(task_id)
    attempts = board.attempts(task_id)
    if as_json:
        data = t.as_json()
        data["attempts"] = [{"attempt": a.attempt, "agent": a.agent, "run": a.run_id, "started": a.started,
                             "ended": a.ended, "outcome": a.outcome, "reason": a.reason} for a in attempts]  # fmt: skip
        print(json.dumps(data, indent=1))
        return EXIT_OK
    lines = [f"task {t.id}: {t.title}", f"state:    {t.state.value}", f"priority: {t.priority}",
             f"labels:   {', '.join(t.labels) or '-'}", f"pool:     {t.pool or '-'}", f"key:      {t.key or '-'}",
             f"attempts: {t.attempt} (max {t.max_attempts})"]  # fmt: skip
    if t.agent:
        lines.append(f"agent:    {t.agent}")
    if t.result:
        lines.append(f"result:   {t.result}")
    if t.reason:
        lines.append(f"reason:   {t.reason}")
    if t.body:
        lines += ["", t.body.rstrip()]
    for a in attempts:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.started))
        lines.append(f"  #{a.attempt} {stamp} {a.agent}: {a.outcome or 'running'}" + (f" ({a.reason})" if a.reason
                                                                                       else ""))  # fmt: skip
    print("\n".join(lines))
    return EXIT_OK


@command("task cancel", TASK_ID)
def task_cancel(ctx: Context, task_id: int) -> int:
    """Cancel an open task (a running one's window is closed)."""
    t = _board(ctx).cancel(task_id)
    print(f"task {t.id} cancelled")
    return EXIT_OK


@command("task retry", TASK_ID)
def task_retry(ctx: Context, task_id: int) -> int:
    """Queue a finished task again, with a fresh attempt budget."""
    t = _board(ctx).retry(task_id)
    print(f"task {t.id} queued")
    return EXIT_OK


@command(
    "task next",
    arg("--agent", required=True, metavar="TEXT", help="Who claims the task (holds its lease)."),
    arg("--pool", metavar="TEXT", help="Claim from this pool's tasks (default: tasks with no pool)."),
    arg("--json", dest="as_json", action="store_true", help="Indented JSON (the output is JSON either way)."),
)
def task_next(ctx: Context, agent: str, pool: str | None, as_json: bool) -> int:
    """Claim the most urgent queued task and print it as JSON (`null` when there is none)."""
    t = _board(ctx, actor=agent).next(agent, pool)
    payload = None if t is None else _claimed(t)
    print(json.dumps(payload, indent=1 if as_json else None))
    return EXIT_OK


def _claimed(t: Task) -> dict[str, object]:
    return {"id": t.id, "title": t.title, "body": t.body, "labels": list(t.labels), "attempt": t.attempt,
            "priority": t.priority, "pool": t.pool, "lease_until": t.lease_until}  # fmt: skip


@command("task done", TASK_ID_OR_ENV, arg("--result", metavar="TEXT", help="What came of it (a PR, a summary)."))
def task_done(ctx: Context, task_id: int | None, result: str | None) -> int:
    """Mark a running task done (in a pool with a gate: done once the gate passes). ID defaults to $FLEET_TASK."""
    t = _board(ctx).done(_task_id(task_id), result)
    print(f"task {t.id} {'done' if t.state is TaskState.DONE else 'reported done; the gate decides'}")
    return EXIT_OK


@command(
    "task fail",
    TASK_ID_OR_ENV,
    arg("--reason", required=True, metavar="TEXT", help="Why it failed (shown in task show and report)."),
)
def task_fail(ctx: Context, task_id: int | None, reason: str) -> int:
    """Mark a running task failed (`task retry` queues it again). ID defaults to $FLEET_TASK."""
    t = _board(ctx).fail(_task_id(task_id), reason)
    print(f"task {t.id} failed")
    return EXIT_OK


@command(
    "send",
    arg("to", metavar="TO"),
    arg("text", metavar="TEXT"),
    arg("--from", dest="sender", metavar="TEXT", help="Sender name (default: $FLEET_AGENT, else human)."),
    arg("--key", metavar="TEXT", help="Deliver once per recipient for this key."),
    arg("--wake", action="store_true", help="Also type the text (and Enter) into the agent's pane."),
)
def send(ctx: Context, to: str, text: str, sender: str | None, key: str | None, wake: bool) -> int:
    """Send a message to an agent (or `*`: every agent). A notice only lands in the inbox; --wake types it too."""
    from fleetctl.bus import Bus

    ids = Bus(ctx.fleet()).send(to, text, sender, key, wake)
    for mid in ids:
        print(mid)
    return EXIT_OK


@command(
    "inbox",
    arg("name", metavar="NAME"),
    arg("--unread", action="store_true", help="Only messages not yet acknowledged."),
    arg("--ack", action="store_true", help="Mark the listed messages read."),
    arg("--json", dest="as_json", action="store_true", help="A JSON list of messages."),
)
def inbox(ctx: Context, name: str, unread: bool, ack: bool, as_json: bool) -> int:
    """Show an agent's (or `human`'s) inbox, oldest first."""
    from fleetctl.bus import Bus
    from fleetctl.cli.render import table

    messages = Bus(ctx.fleet()).inbox(name, unread, ack)
    if as_json:
        print(json.dumps([m.as_json() for m in messages], indent=1))
        return EXIT_OK
    print(table(["ID", "TIME", "FROM", "KIND", "READ", "TEXT"],
                [[m.id, time.strftime("%m-%d %H:%M:%S", time.localtime(m.time)), m.sender,
                  "wake" if m.wake else "notice", "yes" if m.read else "no", _short(m.text, 80)]
                 for m in messages]))  # fmt: skip
    return EXIT_OK


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
