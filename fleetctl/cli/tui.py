"""tui: watch and steer the fleet in a terminal (Textual is imported only here)."""

from __future__ import annotations

import click

from fleetctl.cli import EXIT_OK, Context, cli, pass_ctx


@cli.command()
@click.option("--refresh", default=1.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between observations.")  # fmt: skip
@pass_ctx
def tui(ctx: Context, refresh: float) -> int:
    """Watch and steer the fleet: agents, their output and events, tasks; q quits.

    A broken fleet file or a stopped tmux server is shown on screen; the TUI keeps
    retrying, so fixing the file (or `fleetctl up`) brings it back to life.
    """
    from fleetctl.tui.app import make_app

    app = make_app(lambda: ctx.fleet(actor="tui"), refresh)
    app.run()
    return EXIT_OK
