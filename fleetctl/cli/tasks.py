"""task (add, import, list, show, cancel, retry, next, done, fail), send and inbox: parse, call, render."""

from __future__ import annotations

import json
import os
import time

import click

from fleetctl.cli import EXIT_OK, Context, cli, pass_ctx
from fleetctl.model import Task, TaskState

TASK_SCHEMA_VERSION = 1
_STATES = [s.value for s in TaskState]


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


@cli.group()
def task() -> None:
    """The backlog: add tasks, watch them, and (for agents) claim and finish them.

    \b
    Examples:
      fleetctl task add "Fix the flaky test" --priority 1 --label python
      fleetctl task import backlog.jsonl
      fleetctl task list --state queued
      fleetctl task next --agent worker-1 --json
      fleetctl task done 17 --result "merged in #42"
    """


@task.command("add")
@click.argument("title")
@click.option("--body", default=None, help="The task's text.")
@click.option("--body-file", type=click.Path(dir_okay=False), default=None, help="Read the body from a file.")
@click.option("--priority", type=int, default=2, show_default=True, help="0 (most urgent) to 4.")
@click.option("--label", "labels", multiple=True, help="A label (repeatable); pools with labels take matching tasks.")
@click.option("--pool", default=None, help="Only this pool runs the task.")
@click.option("--key", default=None, help="Deduplicate: while a task with this key is open, print its id.")
@pass_ctx
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
    click.echo(_board(ctx).add(title, body or "", priority, labels, pool, key))
    return EXIT_OK


@task.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@pass_ctx
def task_import(ctx: Context, path: str) -> int:
    """Add every task of a JSON Lines file (title, body, priority, labels, pool, key), all or nothing."""
    for tid in _board(ctx).import_jsonl(path):
        click.echo(tid)
    return EXIT_OK


@task.command("list")
@click.option("--state", type=click.Choice(_STATES), default=None, help="Only tasks in this state.")
@click.option("--pool", default=None, help="Only tasks of this pool.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of tasks (stable keys).")
@pass_ctx
def task_list(ctx: Context, state: str | None, pool: str | None, as_json: bool) -> int:
    """List tasks: running first, then queued by priority, then the rest."""
    from fleetctl.cli.render import table

    tasks = _board(ctx).list(state, pool)
    if as_json:
        click.echo(json.dumps([t.as_json() for t in tasks], indent=1))
        return EXIT_OK
    click.echo(table(["ID", "STATE", "PRI", "POOL", "ATTEMPT", "AGENT", "TITLE", "REASON"],
                     [[t.id, t.state.value, t.priority, t.pool, t.attempt, t.agent if t.state is TaskState.RUNNING
                       else None, _short(t.title, 50), _short(t.reason or "", 60)] for t in tasks]))  # fmt: skip
    return EXIT_OK


@task.command("show")
@click.argument("task_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, with its attempts.")
@pass_ctx
def task_show(ctx: Context, task_id: int, as_json: bool) -> int:
    """Show one task and every attempt at it."""
    board = _board(ctx)
    t = board.show(task_id)
    attempts = board.attempts(task_id)
    if as_json:
        data = t.as_json()
        data["attempts"] = [{"attempt": a.attempt, "agent": a.agent, "run": a.run_id, "started": a.started,
                             "ended": a.ended, "outcome": a.outcome, "reason": a.reason} for a in attempts]  # fmt: skip
        click.echo(json.dumps(data, indent=1))
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
    click.echo("\n".join(lines))
    return EXIT_OK


@task.command("cancel")
@click.argument("task_id", metavar="ID", type=int)
@pass_ctx
def task_cancel(ctx: Context, task_id: int) -> int:
    """Cancel an open task (a running one's window is closed)."""
    t = _board(ctx).cancel(task_id)
    click.echo(f"task {t.id} cancelled")
    return EXIT_OK


@task.command("retry")
@click.argument("task_id", metavar="ID", type=int)
@pass_ctx
def task_retry(ctx: Context, task_id: int) -> int:
    """Queue a finished task again, with a fresh attempt budget."""
    t = _board(ctx).retry(task_id)
    click.echo(f"task {t.id} queued")
    return EXIT_OK


@task.command("next")
@click.option("--agent", required=True, help="Who claims the task (holds its lease).")
@click.option("--pool", default=None, help="Claim from this pool's tasks (default: tasks with no pool).")
@click.option("--json", "as_json", is_flag=True, help="Indented JSON (the output is JSON either way).")
@pass_ctx
def task_next(ctx: Context, agent: str, pool: str | None, as_json: bool) -> int:
    """Claim the most urgent queued task and print it as JSON (`null` when there is none)."""
    t = _board(ctx, actor=agent).next(agent, pool)
    payload = None if t is None else _claimed(t)
    click.echo(json.dumps(payload, indent=1 if as_json else None))
    return EXIT_OK


def _claimed(t: Task) -> dict[str, object]:
    return {"id": t.id, "title": t.title, "body": t.body, "labels": list(t.labels), "attempt": t.attempt,
            "priority": t.priority, "pool": t.pool, "lease_until": t.lease_until}  # fmt: skip


@task.command("done")
@click.argument("task_id", metavar="[ID]", type=int, required=False)
@click.option("--result", default=None, help="What came of it (a PR, a summary).")
@pass_ctx
def task_done(ctx: Context, task_id: int | None, result: str | None) -> int:
    """Mark a running task done (in a pool with a gate: done once the gate passes). ID defaults to $FLEET_TASK."""
    t = _board(ctx).done(_task_id(task_id), result)
    click.echo(f"task {t.id} {'done' if t.state is TaskState.DONE else 'reported done; the gate decides'}")
    return EXIT_OK


@task.command("fail")
@click.argument("task_id", metavar="[ID]", type=int, required=False)
@click.option("--reason", required=True, help="Why it failed (shown in task show and report).")
@pass_ctx
def task_fail(ctx: Context, task_id: int | None, reason: str) -> int:
    """Mark a running task failed (`task retry` queues it again). ID defaults to $FLEET_TASK."""
    t = _board(ctx).fail(_task_id(task_id), reason)
    click.echo(f"task {t.id} failed")
    return EXIT_OK


@cli.command()
@click.argument("to")
@click.argument("text")
@click.option("--from", "sender", default=None, help="Sender name (default: $FLEET_AGENT, else human).")
@click.option("--key", default=None, help="Deliver once per recipient for this key.")
@click.option("--wake", is_flag=True, help="Also type the text (and Enter) into the agent's pane.")
@pass_ctx
def send(ctx: Context, to: str, text: str, sender: str | None, key: str | None, wake: bool) -> int:
    """Send a message to an agent (or `*`: every agent). A notice only lands in the inbox; --wake types it too."""
    from fleetctl.bus import Bus

    ids = Bus(ctx.fleet()).send(to, text, sender, key, wake)
    for mid in ids:
        click.echo(mid)
    return EXIT_OK


@cli.command()
@click.argument("name")
@click.option("--unread", is_flag=True, help="Only messages not yet acknowledged.")
@click.option("--ack", is_flag=True, help="Mark the listed messages read.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of messages.")
@pass_ctx
def inbox(ctx: Context, name: str, unread: bool, ack: bool, as_json: bool) -> int:
    """Show an agent's (or `human`'s) inbox, oldest first."""
    from fleetctl.bus import Bus
    from fleetctl.cli.render import table

    messages = Bus(ctx.fleet()).inbox(name, unread, ack)
    if as_json:
        click.echo(json.dumps([m.as_json() for m in messages], indent=1))
        return EXIT_OK
    click.echo(table(["ID", "TIME", "FROM", "KIND", "READ", "TEXT"],
                     [[m.id, time.strftime("%m-%d %H:%M:%S", time.localtime(m.time)), m.sender,
                       "wake" if m.wake else "notice", "yes" if m.read else "no", _short(m.text, 80)]
                      for m in messages]))  # fmt: skip
    return EXIT_OK


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
