"""keys and answer: a person types into an agent's pane without attaching to it."""

from __future__ import annotations

import click

from fleetctl.cli.base import EXIT_OK, FleetContext, command, complete_agents, pass_fleet


@command(name="keys")
@click.argument("name", metavar="NAME", shell_complete=complete_agents)
@click.argument("keys", metavar="KEY...", nargs=-1)
@pass_fleet
def keys(ctx: FleetContext, name: str, keys: tuple[str, ...]) -> int:
    """Send tmux keys to an agent's pane, e.g. `fleetctl keys coder Escape` or `fleetctl keys coder 1 Enter`."""
    from fleetctl.runtime.steer import send_keys

    send_keys(ctx.fleet(), name, keys)
    print(f"{name}: sent {' '.join(keys)}")
    return EXIT_OK


@command(name="answer")
@click.argument("name", metavar="NAME", shell_complete=complete_agents)
@click.argument("reply", metavar="yes|no|TEXT")
@pass_fleet
def answer(ctx: FleetContext, name: str, reply: str) -> int:
    """Answer an agent's question: yes and no press its kind's approve and decline keys.

    Any other text is typed and submitted with the kind's submit key.
    """
    from fleetctl.runtime.steer import answer as answer_question

    typed = answer_question(ctx.fleet(), name, reply)
    print(f"{name}: typed {typed}")
    return EXIT_OK
