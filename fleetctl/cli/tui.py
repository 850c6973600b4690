"""tui: watch and steer the fleet in a terminal (Textual is imported only here)."""

from __future__ import annotations

import click

from fleetctl.cli.base import EXIT_OK, FleetContext, command, pass_fleet
from fleetctl.errors import FleetError

MIN_REFRESH_SECONDS = 0.1


@command(name="tui")
@click.option(
    "--refresh",
    type=click.FloatRange(min=MIN_REFRESH_SECONDS),
    default=1.0,
    show_default=True,
    metavar="FLOAT",
    help="Seconds between observations.",
)
@pass_fleet
def tui(ctx: FleetContext, refresh: float) -> int:
    """Watch and steer the fleet: agents, their output and events, tasks; q quits.

    A broken fleet file or a stopped tmux server is shown on screen; the TUI keeps
    retrying, so fixing the file (or `fleetctl up`) brings it back to life.
    """
    from fleetctl.tui.app import make_app

    try:  # before the screen is taken, not under it
        ctx.warn_state_dir(ctx.spec())
    except FleetError:  # a broken fleet file is shown on screen instead
        ctx.state_dir_checked = True
    app = make_app(lambda: ctx.fleet(actor="tui"), refresh)
    app.run()
    return EXIT_OK
