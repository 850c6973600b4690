"""tui: watch and steer the fleet in a terminal (Textual is imported only here)."""

from __future__ import annotations

import argparse

from fleetctl.cli import EXIT_OK, Context, arg, command

MIN_REFRESH_SECONDS = 0.1


def _refresh(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid float.") from None
    if not value >= MIN_REFRESH_SECONDS:
        raise argparse.ArgumentTypeError(f"{text} is not in the range x>={MIN_REFRESH_SECONDS}.")
    return value


@command("tui", arg("--refresh", default=1.0, type=_refresh, metavar="FLOAT",
                   help=f"Seconds between observations. [default: 1.0; x>={MIN_REFRESH_SECONDS}]"))  # fmt: skip
def tui(ctx: Context, refresh: float) -> int:
    """Watch and steer the fleet: agents, their output and events, tasks; q quits.

    A broken fleet file or a stopped tmux server is shown on screen; the TUI keeps
    retrying, so fixing the file (or `fleetctl up`) brings it back to life.
    """
    from fleetctl.tui.app import make_app

    app = make_app(lambda: ctx.fleet(actor="tui"), refresh)
    app.run()
    return EXIT_OK
