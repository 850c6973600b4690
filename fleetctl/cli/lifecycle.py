"""up, down, restart, reconcile, supervise, reset, heartbeat: each parses, calls Fleet, renders."""

from __future__ import annotations

import contextlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from fleetctl.cli.base import EXIT_FAILED, EXIT_OK, FleetContext, command, complete_agents, pass_fleet
from fleetctl.cli.render import printable

if TYPE_CHECKING:
    from fleetctl.model import Event
    from fleetctl.runtime.context import Runtime


class Report:
    """What `up`, `down` and `restart` did, one entry per agent, from the events the fleet emits
    while they run: printed one line per agent that changed and a summary (`-v` adds the agents
    left alone, `-q` prints nothing but errors), or as one JSON list (`--json`)."""

    def __init__(self, verbose: bool, quiet: bool, as_json: bool) -> None:
        self.verbose, self.quiet, self.as_json = verbose, quiet, as_json
        self.spawned: set[str] = set()
        self.verified: set[str] = set()
        self.entries: dict[str, tuple[str, str]] = {}
        self.notes: list[str] = []

    def on_event(self, event: Event) -> None:
        if event.kind == "supervisor-started":
            self.notes.append("supervise loop started")
        if event.agent is None:
            return
        if event.kind in ("spawned", "respawned"):
            self.spawned.add(event.agent)
        elif event.kind == "verified":
            self.verified.add(event.agent)
        elif event.kind == "killed" and (event.data or {}).get("why") in ("stop", "restart"):
            self.entries[event.agent] = ("stopped", "")

    def progress(self, name: str, what: str, detail: str) -> None:
        """The fleet's report on each agent `up` waited for: verified (newly or long since) or failed."""
        if what == "failed":
            self.entries[name] = ("failed", detail)
        elif name in self.spawned:
            stopped = self.entries.get(name, ("",))[0] == "stopped"
            self.entries[name] = ("restarted" if stopped else "started", detail)
        elif name in self.verified:
            self.entries[name] = ("verified", detail)
        else:
            self.entries[name] = ("already running", detail)

    def failed(self, failures: list[str], agents: set[str]) -> None:
        """Print the report with the fleet's failure lines: an agent's (`name: why`) is its entry,
        any other (processes that survived) an error line on stderr."""
        for line in failures:
            name = line.split(":", 1)[0]
            if name not in agents:
                print(f"error: {printable(line)}", file=sys.stderr)
            elif self.entries.get(name, ("",))[0] != "failed":
                self.entries[name] = ("failed", line)
        self.print([line for line in failures if line.split(":", 1)[0] in agents])

    def left_alone(self, names: list[str], action: str) -> None:
        for name in names:
            self.entries.setdefault(name, (action, ""))

    def print(self, errors: list[str]) -> None:
        if self.as_json:
            rows = [{"agent": n, "action": a, "detail": d} for n, (a, d) in sorted(self.entries.items())]
            print(json.dumps(rows))
        elif not self.quiet:
            for name, (action, detail) in sorted(self.entries.items()):
                if action == "failed":
                    print(printable(detail))
                elif self.verbose or action not in _SILENT:
                    print(printable(f"{name}: {action}" + (f" ({detail})" if detail else "")))
            counts = Counter(action for action, _ in self.entries.values())
            summary = ", ".join([*(f"{counts[a]} {a}" for a in _ORDER if counts[a]), *self.notes])
            print(summary or "nothing to do")
        elif errors:
            for line in errors:
                print(printable(line))


_ORDER = ("started", "restarted", "verified", "stopped", "failed", "already running", "already stopped")
_SILENT = ("already running", "already stopped")


def _report_options(f: Callable[..., int]) -> Callable[..., int]:
    f = click.option("--json", "as_json", is_flag=True, help="One JSON list of {agent, action, detail}.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="Print nothing but failures.")(f)
    return click.option("-v", "--verbose", is_flag=True, help="Also list the agents left as they were.")(f)


def _split(fleet: Runtime, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Agent names and task window names (`pool.id`)."""
    from fleetctl.runtime import taskwindows

    return taskwindows.split(fleet, names)


def _stop_windows(fleet: Runtime, windows: list[str], why: str) -> list[str]:
    """Stop task windows; their tasks go back to the queue (the pool runs them again)."""
    if not windows:
        return []
    from fleetctl.runtime import taskwindows

    failures, idle = taskwindows.stop(fleet, windows, why)
    for name in windows:
        if name in idle:
            print(f"{name}: no task window runs by that name; nothing to stop", file=sys.stderr)
        else:
            print(f"{name}: stopped; the pool queues its task again (`fleetctl task cancel` drops it)", file=sys.stderr)
    return failures


def _elsewhere(fleet: Runtime, names: Sequence[str], action: str) -> tuple[list[str], bool]:
    """Hand `action` on the named agents that another host runs to that host's supervisor and
    print each result; returns the names left for this host and whether every request worked."""
    if not fleet.spec.store or not names:
        return list(names), True
    from fleetctl.runtime.remote_actions import hand_over

    here, results = hand_over(fleet, names, action)
    for done, line in results:
        if done:
            print(printable(line))
        else:
            print(f"error: {printable(line)}", file=sys.stderr)
    return here, all(done for done, _ in results)


@command(name="up")
@click.argument("names", nargs=-1, shell_complete=complete_agents)
@_report_options
@pass_fleet
def up(ctx: FleetContext, names: tuple[str, ...], verbose: bool, quiet: bool, as_json: bool) -> int:
    """Start the named (or all) agents that are not running, and verify each spawn.

    Prints one line per agent started (or failed) and a summary; healthy agents are left alone
    (listed with -v). Exit 1 when a spawn failed (one line each, with its last output).
    """
    out = Report(verbose, quiet, as_json)
    fleet = ctx.fleet(on_event=out.on_event)
    failures = fleet.up(names, out.progress)
    out.failed(failures, {s.name for s in fleet.resolve(names)})
    return EXIT_FAILED if failures else EXIT_OK


@command(name="down")
@click.argument("names", nargs=-1, shell_complete=complete_agents)
@_report_options
@pass_fleet
def down(ctx: FleetContext, names: tuple[str, ...], verbose: bool, quiet: bool, as_json: bool) -> int:
    """Stop the named (or all) agents and every process they started.

    Prints one line per agent stopped and a summary (-v also lists those already stopped).
    Works when the state database cannot be read or written: the agents are then stopped from
    what tmux and /proc show, and one line says what could not be recorded. Exit 0 only when no
    process the fleet started is left; otherwise exit 1 and list what survived.
    """
    from fleetctl.runtime import stop

    out = Report(verbose, quiet, as_json)
    fleet = ctx.fleet(on_event=out.on_event)
    here, remote_ok = _elsewhere(fleet, names, "stop")
    if names and not here:  # every one runs on another host
        return EXIT_OK if remote_ok else EXIT_FAILED
    agents, windows = _split(fleet, here)
    left = _stop_windows(fleet, windows, "stopped by fleetctl down")
    report = stop.stop_all(fleet, agents) if agents or not names else None  # no names: everything
    if report is not None and report.unrecorded:
        print(
            f"warning: stopped from tmux and /proc alone; not recorded: {printable(report.unrecorded)}",
            file=sys.stderr,
        )
        out.left_alone(list(report.stopped), "stopped")
    if agents or not names:
        out.left_alone([s.name for s in fleet.resolve(agents)], "already stopped")
    left += report.lines if report is not None else []
    for line in left:
        print(f"error: {printable(line)}", file=sys.stderr)
    out.print([])
    return EXIT_FAILED if left or not remote_ok else EXIT_OK


@command(name="restart")
@click.argument("names", nargs=-1, required=True, shell_complete=complete_agents)
@click.option("--fresh", is_flag=True, help="Start a new conversation instead of resuming the agent's session.")
@_report_options
@pass_fleet
def restart(ctx: FleetContext, names: tuple[str, ...], fresh: bool, verbose: bool, quiet: bool, as_json: bool) -> int:
    """Stop and start agents (does not spend their respawn budget); `pool.id` stops a task window
    and its pool runs the task again. An agent whose kind has sessions resumes its latest one
    unless --fresh.

    Prints one line per agent started (or failed) and a summary.
    """
    out = Report(verbose, quiet, as_json)
    fleet = ctx.fleet(on_event=out.on_event)
    if fresh and fleet.spec.store:
        from fleetctl.errors import UsageError
        from fleetctl.runtime.remote_actions import owners

        for name, host in owners(fleet, names).items():
            raise UsageError(f"--fresh: {name} runs on host {host}; run `fleetctl restart {name} --fresh` there")
    here, remote_ok = _elsewhere(fleet, names, "restart")
    if not here:  # every one runs on another host
        return EXIT_OK if remote_ok else EXIT_FAILED
    agents, windows = _split(fleet, here)
    if fresh and agents:
        from fleetctl.sessions.start import Next, ask_next

        for spec in fleet.resolve(agents):
            ask_next(fleet, spec.name, Next.FRESH)
    failures = _stop_windows(fleet, windows, "restarted by request")
    if agents:
        agent_failures = fleet.restart(agents, out.progress)
        failures += agent_failures
        out.failed(agent_failures, {s.name for s in fleet.resolve(agents)})
    return EXIT_FAILED if failures or not remote_ok else EXIT_OK


@command(name="reconcile")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per action.")
@pass_fleet
def reconcile(ctx: FleetContext, dry_run: bool, as_json: bool) -> int:
    """One repair pass (for cron): respawn the dead, kill the stuck, keep the healthy.

    Quiet when nothing changed. Exit 0 when every agent that should run runs, 3 when degraded,
    1 when something failed.
    """
    from fleetctl.cli.render import event_json

    events, failures, code = ctx.fleet(actor="reconcile").reconcile(dry_run=dry_run)
    for event in events:
        if as_json:
            print(event_json(event))
        elif event.kind == "verified":
            continue
        elif dry_run:
            print(printable(event.reason))
        else:
            who = f"{event.agent}: " if event.agent else ""
            print(printable(f"{event.kind} {who}{event.reason}".rstrip()))
    for line in failures:
        print(f"error: {printable(line)}", file=sys.stderr)
    return int(code)


@command(name="supervise")
@pass_fleet
def supervise(ctx: FleetContext) -> int:
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


@command(name="reset")
@click.argument("names", nargs=-1, required=True, shell_complete=complete_agents)
@pass_fleet
def reset(ctx: FleetContext, names: tuple[str, ...]) -> int:
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


@command(name="heartbeat")
@pass_fleet
def heartbeat(ctx: FleetContext) -> int:
    """Tell fleetctl the calling agent is alive (reads FLEET_AGENT from the environment).

    In a task window (FLEET_TASK set) it also renews the task's lease; exit 1 when the lease
    has passed to another claimer.
    """
    import contextlib
    import os

    from fleetctl.errors import UsageError

    agent = os.environ.get("FLEET_AGENT")
    if not agent:
        raise UsageError("heartbeat runs inside an agent: FLEET_AGENT is not set")
    fleet = ctx.fleet()
    fleet.heartbeat(agent)
    task = os.environ.get("FLEET_TASK", "")
    if task.isdigit():  # in a task window: the heartbeat also renews the task's lease
        from fleetctl.tasks import TaskBoard

        with contextlib.suppress(UsageError):  # a task already settled has no lease to keep
            TaskBoard(fleet).renew(int(task), agent)
    return EXIT_OK
