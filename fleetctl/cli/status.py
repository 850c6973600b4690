"""status: one observation, rendered; changes nothing."""

from __future__ import annotations

import json

import click

from fleetctl.cli.base import FleetContext, command, complete_agents, pass_fleet


@command(name="status")
@click.argument("names", nargs=-1, shell_complete=complete_agents)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of agents (stable keys).")
@pass_fleet
def status(ctx: FleetContext, names: tuple[str, ...], as_json: bool) -> int:
    """Show every agent: state, pid, port, uptime, respawns, last exit, last output.

    Exit 0 when every agent that should run runs, 3 when degraded, 1 when failed.
    """
    from fleetctl.cli.render import table
    from fleetctl.humanize import duration
    from fleetctl.plan import AgentView, exit_code

    rows = ctx.fleet().status(names)
    if as_json:
        # One agent per line: readable, greppable, and json's C encoder (indent= takes the slow
        # pure-Python one, milliseconds at a hundred agents).
        print("[\n" + ",\n".join(json.dumps(r.as_json()) for r in rows) + "\n]" if rows else "[]")
    else:
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
                        r.reason + (f" (retry in {duration(r.next_retry_s)})" if r.next_retry_s is not None else ""),
                    ]
                    for r in rows
                ],
            )
        )
    return exit_code({r.name: AgentView(name=r.name, state=r.state) for r in rows})
