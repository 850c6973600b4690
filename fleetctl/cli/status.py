"""status: one observation, rendered; changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from fleetctl.cli.base import FleetContext, command, complete_agents, pass_fleet

if TYPE_CHECKING:
    from fleetctl.fleet import AgentStatus, Fleet
    from fleetctl.model import PoolSpec
    from fleetctl.runtime.status import TaskWindowStatus

DETAIL_OUTPUT_LINES = 10
TITLE_WIDTH = 48


@command(name="status")
@click.argument("names", nargs=-1, shell_complete=complete_agents)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of agents, then task windows (stable keys).")
@click.option("--all", "every_host", is_flag=True, help="Every host of a fleet on a shared store, with a HOST column.")
@pass_fleet
def status(ctx: FleetContext, names: tuple[str, ...], as_json: bool, every_host: bool) -> int:
    """Show every agent: state, pid, port, uptime, respawns, last exit, last output; then each pool's task windows.

    The table fits the terminal (the reason is cut short with …); `status NAME` of one agent
    tells its whole story: reason, respawn budget, next retry, processes and last output.
    Exit 0 when every agent that should run runs, 3 when degraded, 1 when failed.
    """
    from fleetctl.cli.render import table, terminal_width
    from fleetctl.humanize import duration
    from fleetctl.plan import AgentView, exit_code
    from fleetctl.runtime.status import status_and_tasks, task_window_name

    fleet = ctx.fleet()
    if every_host:
        return _every_host(fleet, as_json)
    rows, windows = status_and_tasks(fleet, names)
    if as_json:
        # One row per line: readable, greppable, and json's C encoder (indent= takes the slow
        # pure-Python one, milliseconds at a hundred agents). Task windows follow the agents,
        # with the agents' keys plus kind "task", pool, title, attempt and activity.
        items = [json.dumps(r.as_json()) for r in rows] + [json.dumps(w.as_json()) for w in windows]
        print("[\n" + ",\n".join(items) + "\n]" if items else "[]")
    elif len(names) == 1 and len(rows) == 1:
        print(detail(fleet, rows[0]))
    else:
        if rows or not fleet.spec.pools:
            # ACTIVITY only where an agent has a kind that knows its screen: a generic fleet keeps its columns
            kinds = any(a.kind != "generic" for a in fleet.spec.agents)
            headers = [
                "NAME",
                "STATE",
                "ACTIVITY",
                "PID",
                "PORT",
                "UPTIME",
                "RESPAWNS",
                "LAST EXIT",
                "OUTPUT",
                "REASON",
            ]
            cells = [
                [
                    r.name,
                    r.state.value,
                    r.activity,
                    r.pid,
                    r.port,
                    duration(r.uptime_s),
                    f"{r.respawns}/{r.max_respawns}",
                    r.last_exit,
                    None if r.last_output_s is None else f"{duration(r.last_output_s)} ago",
                    r.reason + (f" (retry in {duration(r.next_retry_s)})" if r.next_retry_s is not None else ""),
                ]
                for r in rows
            ]
            if not kinds:
                headers.pop(2)
                cells = [row[:2] + row[3:] for row in cells]
            print(table(headers, cells, width=terminal_width(), keep=("NAME", "STATE", "PID")))
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


def detail(fleet: Fleet, row: AgentStatus) -> str:
    """One agent's whole story, one fact a line, then its last output as the screen showed it."""
    from fleetctl import logview
    from fleetctl.cli.render import printable
    from fleetctl.humanize import duration
    from fleetctl.redact import redact

    spec = fleet.spec.agent(row.name)
    facts: list[tuple[str, object]] = [("state", row.state.value)]
    activity = row.activity
    if row.activity_detail:
        activity += f": {row.activity_detail}"
    if row.reset_at is not None:
        activity += f" (resets in {duration(max(0.0, row.reset_at - fleet.now()))})"
    if spec is not None and spec.kind != "generic":
        facts.append(("activity", activity))
    facts.append(("reason", row.reason or None))
    if row.labels:
        facts.append(("labels", ", ".join(row.labels)))
    window = f" in {duration(spec.respawn_window)}" if spec is not None else ""
    facts.append(("respawns", f"{row.respawns}/{row.max_respawns} used{window}"))
    if row.next_retry_s is not None:
        facts.append(("next retry", f"in {duration(row.next_retry_s)}"))
    facts.append(("last exit", row.last_exit))
    if row.session:
        age = f" (written {duration(row.session_age_s)} ago)" if row.session_age_s is not None else ""
        facts.append(("session", f"{row.session}{age}"))
    facts.append(("port", row.port))
    facts.append(("window", row.window))
    facts.append(("uptime", None if row.uptime_s is None else duration(row.uptime_s)))
    facts.append(("processes", _tree(fleet, row.pid)))
    if row.task is not None:
        facts.append(("task", row.task))
    lines = [f"{row.name}"]
    lines += [
        f"  {label + ':':<11} {'-' if value is None or value == '' else printable(str(value))}"
        for label, value in facts
    ]
    output = logview.rendered_tail(fleet.logs_dir / row.name, DETAIL_OUTPUT_LINES)
    ago = f" ({duration(row.last_output_s)} ago)" if row.last_output_s is not None else ""
    lines.append(f"  last output{ago}:" if output else "  last output: none yet")
    lines += [f"    {printable(redact(line, fleet.secrets))}".rstrip() for line in output]
    return "\n".join(lines)


def _tree(fleet: Fleet, pid: int | None) -> str | None:
    """The pids of the agent's process tree, its window's process first (one process scan)."""
    if pid is None:
        return None
    pids = fleet.procs.scan().tree(pid)
    return " ".join(str(p) for p in [pid, *sorted(p for p in pids if p != pid)])


def _every_host(fleet: Fleet, as_json: bool) -> int:
    """`status --all`: every host's rows (see fleetctl.runtime.status_all); exit 3 when a host is unreachable."""
    from fleetctl.cli.render import table, terminal_width
    from fleetctl.runtime.status_all import UNREACHABLE, fleet_rows, table_rows

    rows = fleet_rows(fleet)
    if as_json:
        print("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]" if rows else "[]")
    else:
        print(table(["HOST", "NAME", "STATE", "PID", "REASON"], table_rows(rows), width=terminal_width()))
    return 3 if any(r.get("state") == UNREACHABLE for r in rows) else 0
