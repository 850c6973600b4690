"""up, down, restart, reconcile, supervise, reset: each parses, calls Fleet, renders."""

from __future__ import annotations

import contextlib
import sys

from fleetctl.cli import EXIT_FAILED, EXIT_OK, Context, arg, command

NAMES = arg("names", nargs="*", metavar="NAMES")
SOME_NAMES = arg("names", nargs="+", metavar="NAMES")


def _progress(name: str, what: str, detail: str) -> None:
    if what == "verified":
        print(f"{name}: verified ({detail})", file=sys.stderr)


@command("up", NAMES)
def up(ctx: Context, names: tuple[str, ...]) -> int:
    """Start the named (or all) agents that are not running, and verify each spawn."""
    fleet = ctx.fleet()
    failures = fleet.up(names, _progress)
    for line in failures:
        print(line)
    return EXIT_FAILED if failures else EXIT_OK


@command("down", NAMES)
def down(ctx: Context, names: tuple[str, ...]) -> int:
    """Stop the named (or all) agents and every process they started."""
    fleet = ctx.fleet()
    left = fleet.down(names)
    for line in left:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAILED if left else EXIT_OK


@command("restart", SOME_NAMES)
def restart(ctx: Context, names: tuple[str, ...]) -> int:
    """Stop and start agents (does not spend their respawn budget)."""
    failures = ctx.fleet().restart(names, _progress)
    for line in failures:
        print(line)
    return EXIT_FAILED if failures else EXIT_OK


@command(
    "reconcile",
    arg("--dry-run", action="store_true", help="Print the plan; change nothing."),
    arg("--json", dest="as_json", action="store_true", help="One JSON object per action."),
)
def reconcile(ctx: Context, dry_run: bool, as_json: bool) -> int:
    """One repair pass (for cron): respawn the dead, kill the stuck, keep the healthy."""
    from fleetctl.cli.render import event_json

    fleet = ctx.fleet(actor="reconcile")
    events, failures, code = fleet.reconcile(dry_run=dry_run)
    for event in events:
        if event.kind in ("verified",) and not as_json:
            continue
        if as_json:
            print(event_json(event))
        else:
            who = f"{event.agent}: " if event.agent else ""
            print(f"{event.kind} {who}{event.reason}".rstrip() if dry_run is False else event.reason)
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return code


@command("supervise")
def supervise(ctx: Context) -> int:
    """Run the supervise loop in the foreground (`up` starts it in its own window)."""
    import logging

    from fleetctl.cli.render import event_line

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    fleet = ctx.fleet(actor="supervisor", on_event=lambda e: print(event_line(e), flush=True))
    print(f"supervising fleet {fleet.spec.name} ({len(fleet.spec.agents)} agents)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fleet.supervise()
    sys.stdout.flush()
    return EXIT_OK


@command("reset", SOME_NAMES)
def reset(ctx: Context, names: tuple[str, ...]) -> int:
    """Clear the respawn counter and failed state (does not start anything); a pool name closes its breaker."""
    fleet = ctx.fleet()
    pools = [n for n in names if fleet.spec.pool(n) is not None]
    if pools:
        from fleetctl.tasks import TaskBoard

        TaskBoard(fleet).reset_breakers(pools)
    agents = [n for n in names if n not in pools]
    if agents:
        fleet.reset(agents)
    return EXIT_OK


@command("heartbeat")
def heartbeat(ctx: Context) -> int:
    """Tell fleetctl the calling agent is alive (reads FLEET_AGENT from the environment)."""
    import os

    from fleetctl.errors import UsageError

    agent = os.environ.get("FLEET_AGENT")
    if not agent:
        raise UsageError("heartbeat runs inside an agent: FLEET_AGENT is not set")
    ctx.fleet().heartbeat(agent)
    return EXIT_OK
