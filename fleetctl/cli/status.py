"""status: one observation, rendered; changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from fleetctl.cli.base import FleetContext, command, complete_agents, pass_fleet

if TYPE_CHECKING:
    from fleetctl.model import PoolSpec
    from fleetctl.runtime.status import TaskWindowStatus

TITLE_WIDTH = 48


@command(name="status")
@click.argument("names", nargs=-1, shell_complete=complete_agents)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of agents, then task windows (stable keys).")
@pass_fleet
def status(ctx: FleetContext, names: tuple[str, ...], as_json: bool) -> int:
    """Show every agent: state, pid, port, uptime, respawns, last exit, last output; then each pool's task windows.

    Exit 0 when every agent that should run runs, 3 when degraded, 1 when failed.
    """
    from fleetctl.cli.render import table
    from fleetctl.humanize import duration
    from fleetctl.plan import AgentView, exit_code
    from fleetctl.runtime.status import status_and_tasks, task_window_name

    fleet = ctx.fleet()
    rows, windows = status_and_tasks(fleet, names)
    if as_json:
        # One row per line: readable, greppable, and json's C encoder (indent= takes the slow
        # pure-Python one, milliseconds at a hundred agents). Task windows follow the agents,
        # with the agents' keys plus kind "task", pool, title, attempt and activity.
        items = [json.dumps(r.as_json()) for r in rows] + [json.dumps(w.as_json()) for w in windows]
        print("[\n" + ",\n".join(items) + "\n]" if items else "[]")
    else:
        if rows or not fleet.spec.pools:
            print(
                table(
                    ["NAME", "STATE", "PID", "PORT", "UPTIME", "RESPAWNS", "LAST EXIT", "OUTPUT", "REASON"],
                    [
                        [
                            r.name,
                            r.state.value,
                            r.pid,
                            r.port,
                            duration(r.uptime_s),
                            f"{r.respawns}/{r.max_respawns}",
                            r.last_exit,
                            None if r.last_output_s is None else f"{duration(r.last_output_s)} ago",
                            r.reason
                            + (f" (retry in {duration(r.next_retry_s)})" if r.next_retry_s is not None else ""),
                        ]
                        for r in rows
                    ],
                )
            )
        sections = task_sections(fleet.spec.pools, windows, bool(names))
        if sections:
            print(("\n" if rows else "") + sections)
        listed = {w.name for w in windows}
        for name in names:
            if name not in listed and task_window_name(fleet, name):
                print(f"{name}: no task window runs by that name")
        if not names:
            from fleetctl.taskmatch import queued_unmatched

            count, ids = queued_unmatched(fleet.store, fleet.spec.pools)
            if count:
                shown = ", ".join(str(i) for i in ids) + (", …" if count > len(ids) else "")
                print(f"\ntasks no pool can take: {count} (ids {shown}; see `fleetctl doctor`)")
    return exit_code({r.name: AgentView(name=r.name, state=r.state) for r in rows})


def task_sections(pools: Sequence[PoolSpec], windows: Sequence[TaskWindowStatus], only_named: bool = False) -> str:
    """One section per pool: its task windows; WINDOW is the name `logs`, `attach`, `send` take."""
    from fleetctl.cli.render import table
    from fleetctl.humanize import duration

    out = []
    for pool in pools:
        mine = [w for w in windows if w.pool == pool.name]
        if only_named and not mine:
            continue
        head = f"pool {pool.name}: {len(mine)} task window{'' if len(mine) == 1 else 's'} (slots {pool.slots})"
        if not mine:
            out.append(head)
            continue
        rows = [[w.task, _short(w.title), w.attempt, w.state, w.activity, duration(w.runtime_s), w.name] for w in mine]
        body = table(["TASK", "TITLE", "ATTEMPT", "STATE", "ACTIVITY", "RUNTIME", "WINDOW"], rows)
        out.append(head + "\n" + "\n".join("  " + line for line in body.splitlines()))
    return "\n\n".join(out)


def _short(text: str, width: int = TITLE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
