"""task show, diff, accept, reject, prune: what a task did, and a person's verdict on it."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from fleetctl.cli.base import EXIT_OK, TEXT, FleetContext, command, pass_fleet
from fleetctl.cli.render import printable
from fleetctl.cli.tasks import _board, _reviewer

if TYPE_CHECKING:
    from fleetctl.tasks import TaskBoard


def _stamp(when: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if when is not None else "-"


def _diff_stat(board: TaskBoard, task_id: int) -> str | None:
    """`git diff --stat` against the base, or why it cannot be shown; None without a worktree."""
    from fleetctl.errors import FleetError

    if board.work(task_id).base is None:
        return None
    try:
        return board.diff(task_id, stat=True).rstrip() or "(no changes)"
    except FleetError as exc:
        return f"({exc.message})"


@command(name="show")
@click.argument("task_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, with its attempts.")
@pass_fleet
def task_show(ctx: FleetContext, task_id: int, as_json: bool) -> int:
    """Show one task: its worktree, branch, base commit and changes, and every attempt at it."""
    board = _board(ctx)
    t = board.show(task_id)
    attempts = board.attempts(task_id)
    work = board.work(task_id)
    results = board.attempt_results(task_id)
    stat = _diff_stat(board, task_id)
    from fleetctl.sessions import spend

    fleet = ctx.fleet()
    used = {  # the pool that ran an attempt: its window is named <pool>.<task id>
        a.attempt: spend.attempt(
            fleet, a.agent.split(".")[0], work.worktree, a.started, a.ended, window=a.agent, run_id=a.run_id
        )
        for a in attempts
    }
    if as_json:
        data = t.as_json()
        data.update(
            {
                "acceptance": work.acceptance,
                "worktree": work.worktree,
                "branch": work.branch,
                "base": work.base,
                "merged": work.merged,
                "pruned": work.pruned,
                "reviewed_by": work.reviewed_by,
                "reviewed_at": work.reviewed_at,
                "diff_stat": stat,
            }
        )
        rows: list[dict[str, object]] = []
        data["attempts"] = rows
        for a in attempts:
            r, u = results.get(a.attempt), used.get(a.attempt)
            rows.append(
                {
                    "attempt": a.attempt,
                    "agent": a.agent,
                    "host": a.host,
                    "cost": u.cost if u is not None else None,
                    "run": a.run_id,
                    "started": a.started,
                    "ended": a.ended,
                    "outcome": a.outcome,
                    "reason": a.reason,
                    "exit_code": r.exit_code if r else None,
                    "exit_signal": r.exit_signal if r else None,
                    "class": r.cls if r else None,
                    "gate_code": r.gate_code if r else None,
                    "gate_output": r.gate_tail.splitlines() if r else [],
                    "usage": u.as_json() if u is not None else None,
                }
            )
        print(json.dumps(data, indent=1))
        return EXIT_OK
    lines = [
        f"task {t.id}: {printable(t.title)}",
        f"state:    {t.state.value}",
        f"priority: {t.priority}",
        f"labels:   {printable(', '.join(t.labels)) or '-'}",
        f"pool:     {t.pool or '-'}",
        f"key:      {printable(t.key or '-')}",
        f"attempts: {t.attempt} (max {t.max_attempts})",
    ]
    if t.agent:
        lines.append(f"agent:    {t.agent}")
    if t.result:
        lines.append(f"result:   {printable(t.result)}")
    if t.reason:
        lines.append(f"reason:   {printable(t.reason)}")
    if work.worktree:
        lines.append(f"worktree: {work.worktree}" + (f" (pruned {_stamp(work.pruned)})" if work.pruned else ""))
        lines.append(f"branch:   {work.branch or '-'}")
        lines.append(f"base:     {work.base or '-'}")
    if work.merged:
        lines.append(f"merged:   {work.merged}")
    if work.reviewed_by:
        lines.append(f"reviewed: by {printable(work.reviewed_by)} at {_stamp(work.reviewed_at)}")
    if work.acceptance:
        lines += ["acceptance:", printable(work.acceptance.rstrip(), keep_layout=True)]
    if t.body:
        lines += ["", printable(t.body.rstrip(), keep_layout=True)]
    if stat is not None:
        lines += ["", "changes against base (git diff --stat):", printable(stat, keep_layout=True)]
    if attempts:
        lines += ["", "attempts:"]
    for a in attempts:
        why = f" ({printable(a.reason)})" if a.reason else ""
        host = printable(a.host) if a.host else "an unrecorded host"
        span = f"{_stamp(a.started)} .. {_stamp(a.ended)}"
        lines.append(f"  #{a.attempt} {span} {a.agent} on {host}: {a.outcome or 'running'}{why}")
        u = used.get(a.attempt)
        cost = "cost unknown" if u is None or u.cost is None else f"cost ${u.cost:.4f}"
        if u is not None and u.messages:
            lines.append(f"     tokens: {u.input} in, {u.output} out, {u.cache_read + u.cache_write} cache")
        r = results.get(a.attempt)
        if r is None:
            lines.append(f"     {cost}")
            continue
        how = f"exit {r.exit_code}" if r.exit_code is not None else "no exit code"
        if r.exit_signal is not None:
            how = f"signal {r.exit_signal}"
        gate = f", gate exit {r.gate_code}" if r.gate_code is not None else ""
        lines.append(f"     {how}, {r.cls}{gate}, {cost}")
        lines += [f"     | {printable(line)}" for line in r.gate_tail.splitlines()]
    print("\n".join(lines))
    return EXIT_OK


@command(name="diff")
@click.argument("task_id", type=int, metavar="ID")
@click.option("--stat", is_flag=True, help="Only the summary (git diff --stat).")
@pass_fleet
def task_diff(ctx: FleetContext, task_id: int, stat: bool) -> int:
    """What the task changed: its worktree against the commit it started from (new files included)."""
    text = _board(ctx).diff(task_id, stat)
    print(text, end="" if text.endswith("\n") or not text else "\n")
    return EXIT_OK


@command(name="accept")
@click.argument("task_id", type=int, metavar="ID")
@click.option("--by", metavar="TEXT", help="Who accepts (default: your user name).")
@click.option("--note", type=TEXT, metavar="TEXT", help="A note kept with the task's history.")
@pass_fleet
def task_accept(ctx: FleetContext, task_id: int, by: str | None, note: str | None) -> int:
    """Accept a needs-review task: it is done (the pool's on_done merges it or opens a PR).

    Exit 1 when the merge conflicts or the PR command fails; the task stays needs-review.
    """
    who = _reviewer(by)
    t = _board(ctx, actor=who).accept(task_id, who, note)
    print(f"task {t.id} done, accepted by {who}" + (f": {printable(t.result)}" if t.result else ""))
    return EXIT_OK


@command(name="reject")
@click.argument("task_id", type=int, metavar="ID")
@click.option("--requeue", is_flag=True, help="Queue it again (fresh attempts; the note goes to the agent).")
@click.option("--note", type=TEXT, metavar="TEXT", help="What is wrong (shown to the next attempt's agent).")
@click.option("--by", metavar="TEXT", help="Who rejects (default: your user name).")
@pass_fleet
def task_reject(ctx: FleetContext, task_id: int, requeue: bool, note: str | None, by: str | None) -> int:
    """Reject a needs-review task: failed, or with --requeue queued again."""
    who = _reviewer(by)
    t = _board(ctx, actor=who).reject(task_id, who, note, requeue)
    print(f"task {t.id} {t.state.value}, rejected by {who}")
    return EXIT_OK


@command(name="prune")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@pass_fleet
def task_prune(ctx: FleetContext, dry_run: bool) -> int:
    """Remove the worktrees and branches of finished tasks: at once when done and merged, else after
    the pool's worktree_keep (default 7d). Never while a task is running, queued or needs a person."""
    from fleetctl.cli.render import table

    items = _board(ctx).prune(dry_run)
    rows = []
    for item in items:
        if item.error:
            what = f"error: {item.error}"
        elif item.remove:
            what = "would remove" if dry_run else "removed"
        else:
            what = "kept"
        rows.append([item.task_id, item.state, what, str(item.path), item.why])
    print(table(["TASK", "STATE", "ACTION", "WORKTREE", "WHY"], rows) if rows else "no task worktrees")
    return 1 if any(i.error for i in items) else EXIT_OK
