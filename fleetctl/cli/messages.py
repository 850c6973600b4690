"""send and inbox: messages between agents and people, through the bus."""

from __future__ import annotations

import json
import time

import click

from fleetctl.cli.base import EXIT_FAILED, EXIT_OK, FleetContext, command, pass_fleet


@command(name="send")
@click.argument("to", metavar="[TO]", required=False)
@click.argument("text", metavar="TEXT", required=False)
@click.option("--kind", "kind", metavar="KIND", help="Send to every agent of this kind (then TEXT alone).")
@click.option("--label", "label", metavar="LABEL", help="Send to every agent with this label (then TEXT alone).")
@click.option("--from", "sender", metavar="TEXT", help="Sender name (default: $FLEET_AGENT, else human).")
@click.option("--key", metavar="TEXT", help="Deliver once per recipient for this key.")
@click.option("--wake", is_flag=True, help="Also type the text (and Enter) into the agent's pane.")
@click.option(
    "--timeout",
    type=click.FloatRange(0, 86400),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="--wake to an agent of a known kind: how long to wait for it to come to its prompt.",
)
@click.option("--now", "at_once", is_flag=True, help="--wake: type at once, without waiting for the prompt.")
@pass_fleet
def send(
    ctx: FleetContext,
    to: str | None,
    text: str | None,
    kind: str | None,
    label: str | None,
    sender: str | None,
    key: str | None,
    wake: bool,
    timeout: float,
    at_once: bool,
) -> int:
    """Send a message to an agent (or `*`: every agent). A notice only lands in the inbox; --wake types it too.

    `send --kind claude TEXT` and `send --label L TEXT` send it to each agent of the group: one line
    per agent, then a summary; exit 1 if it failed for any. TEXT holds at most 10,000 characters.
    A TEXT that starts with "-" follows `--`: `fleetctl send web -- "-1 is not an option"`.
    """
    from fleetctl.bus import Bus

    to, text = _recipient_and_text(tuple(w for w in (to, text) if w is not None), kind, label)
    fleet = ctx.fleet()
    if to is None:
        from fleetctl.runtime import groups

        reached = groups.send_to(fleet, groups.members(fleet, kind, label), text, sender, key, wake, timeout, at_once)
        for one in reached:
            print(one.text)
        print(groups.summary(reached))
        return EXIT_OK if all(r.ok for r in reached) else EXIT_FAILED
    if wake and fleet.spec.store:  # a wake for an agent of a silent host would never be typed
        from fleetctl.runtime.remote_actions import owners, reachable

        for name, host in owners(fleet, [to]).items():
            reachable(fleet, name, host, "nothing was sent")
    if wake:
        from fleetctl.runtime.prompt import deliver, needs_prompt

        if needs_prompt(fleet, to):  # an interactive agent: typed at its prompt, and verified
            for mid in Bus(fleet).send(to, text, sender, key, wake=False):
                print(mid)
            print(deliver(fleet, to, text, timeout, now=at_once))
            return EXIT_OK
    for mid in Bus(fleet).send(to, text, sender, key, wake):
        print(mid)
    return EXIT_OK


def _recipient_and_text(words: tuple[str, ...], kind: str | None, label: str | None) -> tuple[str | None, str]:
    """(TO, TEXT), or (None, TEXT) for a group; a bad combination is one line and exit 2."""
    from fleetctl.errors import UsageError

    if kind is not None and label is not None:
        raise UsageError("--kind and --label: expected one of them, not both")
    if kind is not None or label is not None:
        group = f"--kind {kind}" if kind is not None else f"--label {label}"
        if len(words) != 1:
            got = "an agent name too" if len(words) == 2 else f"{len(words)} arguments"
            raise UsageError(f"{group} TEXT: expected only the TEXT (the group names the agents), got {got}")
        return None, words[0]
    if len(words) != 2:
        raise UsageError(f"expected TO TEXT (an agent, `*` or `human`, then the message), got {len(words)} argument(s)")
    return words[0], words[1]


@command(name="inbox")
@click.argument("name", metavar="NAME")
@click.option("--unread", is_flag=True, help="Only messages not yet acknowledged.")
@click.option("--ack", is_flag=True, help="Mark the listed messages read.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of messages (the exact text).")
@pass_fleet
def inbox(ctx: FleetContext, name: str, unread: bool, ack: bool, as_json: bool) -> int:
    """Show an agent's (or `human`'s) inbox, oldest first.

    Control characters in a message are shown escaped (\\x1b); --json keeps the exact text.
    """
    from fleetctl.bus import Bus
    from fleetctl.cli.render import table

    messages = Bus(ctx.fleet()).inbox(name, unread, ack)
    if as_json:
        print(json.dumps([m.as_json() for m in messages], indent=1))
        return EXIT_OK
    rows = [
        [
            m.id,
            time.strftime("%m-%d %H:%M:%S", time.localtime(m.time)),
            m.sender,
            "wake" if m.wake else "notice",
            "yes" if m.read else "no",
            _short(m.text, 80),
        ]
        for m in messages
    ]
    print(table(["ID", "TIME", "FROM", "KIND", "READ", "TEXT"], rows))
    return EXIT_OK


def _short(text: str, width: int) -> str:
    """One line of at most width characters (the table escapes what is left of control characters)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
