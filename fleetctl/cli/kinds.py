"""kinds: the agent kinds this fleet knows (built-in, amended or added by fleet.toml); changes nothing."""

from __future__ import annotations

import click

from fleetctl.cli.base import FleetContext, command, pass_fleet


@command(name="kinds")
@pass_fleet
def kinds(ctx: FleetContext) -> int:
    """List agent kinds: name, the activities each recognises, and where it comes from.

    Without a fleet file, the built-in kinds.
    """
    from fleetctl.cli.render import table
    from fleetctl.errors import UsageError
    from fleetctl.kinds import describe_kinds, load_kinds

    try:
        tables: object = ctx.spec().kinds or None
    except UsageError:  # no fleet file here: the built-in kinds are still worth listing
        tables = None
    rows = describe_kinds(load_kinds(tables))
    click.echo(table(["NAME", "ACTIVITIES", "SOURCE"], [[r.name, r.activities, r.origin] for r in rows]))
    return 0
