"""Operator tools: report, events, logs, doctor, metrics, cron. Each parses, calls core, renders."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fleetctl.cli.base import EXIT_FAILED, EXIT_OK, FleetContext, command, complete_agents, pass_fleet
from fleetctl.cli.render import printable
from fleetctl.errors import FleetError, UsageError

if TYPE_CHECKING:
    from fleetctl.doctor import Check
    from fleetctl.model import FleetSpec

DEFAULT_EVENTS = 50


def _since(value: str | None, default: str | None = None) -> float | None:
    from fleetctl.timespec import parse_since

    text = value if value is not None else default
    return None if text is None else parse_since(text, time.time())


@command(name="report")
@click.option("--since", "since_text", metavar="T", help='"12h", "30m", "2d" or "2026-01-01T22:00" (default 12h).')
@click.option("--host", metavar="HOST", help="Only this host's runs, events and task attempts (a shared store).")
@click.option("--json", "as_json", is_flag=True, help="The complete report as one JSON object.")
@pass_fleet
def report(ctx: FleetContext, since_text: str | None, host: str | None, as_json: bool) -> int:
    """What changed since T: runs, crashes, stalls, kills, alerts, tasks, supervise load.

    \b
    Examples:
      fleetctl report                    the last 12 hours
      fleetctl report --since 2026-01-01T22:00 --json
      fleetctl report --host build-2     one host of a fleet on a shared store
    """
    from fleetctl import report as report_module
    from fleetctl.cli.report_text import render_text

    since = _since(since_text, "12h")
    assert since is not None
    fleet = ctx.fleet()
    if host is not None and not fleet.spec.store and host != fleet.spec.host:
        from fleetctl.errors import UsageError

        raise UsageError(
            f"--host {host}: this fleet's store is not shared; its one host is {fleet.spec.host} "
            "(`[fleet] store` names a shared one)"
        )
    from fleetctl.sessions import spend

    result = report_module.load(fleet, since, host=host)
    used = spend.report(fleet, since)
    if as_json:
        print(json.dumps({**result.as_json(), "usage": used}, indent=1, sort_keys=False))
    else:
        print(render_text(result))
        if used["agents"] or used["tasks"]:
            print("\n" + render_usage(used))
    return EXIT_OK


def render_usage(used: dict[str, Any]) -> str:
    """The usage section of `report`: one line per agent and per day, then the total."""

    def line(label: str, u: dict[str, Any]) -> str:
        cost = "cost unknown" if u["cost_usd"] is None else f"${u['cost_usd']:.4f}"
        tokens = f"{u['input_tokens']} in, {u['output_tokens']} out"
        cache = f", {u['cache_read_tokens']} cache read, {u['cache_write_tokens']} cache write"
        return f"  {label:<16} {tokens}{cache}  {cost}"

    lines = ["tokens and cost:"]
    lines += [line(name, u) for name, u in used["agents"].items()]
    lines += [line(f"pool {name}", u) for name, u in used["pools"].items()]
    lines += [line(f"task {task}", u) for task, u in used["tasks"].items()]
    lines += [line(day, u) for day, u in used["days"].items()]
    lines.append(line("total", used["total"]))
    if used["unpriced_models"]:
        lines.append(f'  no price for: {", ".join(used["unpriced_models"])} (add [kinds.NAME.prices."MODEL"])')
    return "\n".join(lines)


@command(name="events")
@click.option("--since", "since_text", metavar="T", help=f"Events since T (default: the last {DEFAULT_EVENTS}).")
@click.option("--agent", metavar="NAME", help="Only this agent's events.")
@click.option("--host", metavar="HOST", help="Only the events of this host (a fleet on a shared store).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they are recorded (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_fleet
def events(
    ctx: FleetContext, since_text: str | None, agent: str | None, host: str | None, follow: bool, as_json: bool
) -> int:
    """The event log, one line per event, oldest first."""
    from fleetctl import eventlog
    from fleetctl.cli.render import event_json, event_line

    since = _since(since_text)
    fleet = ctx.fleet()
    store = fleet.store
    show = event_json if as_json else event_line
    last_id = 0
    if store.exists():
        found = store.events(since=since or 0.0, agent=agent, host=host)
        if since is None:
            found = found[-DEFAULT_EVENTS:]
        for event in found:
            print(show(event))
        last_id = found[-1].id if found else store.last_event_id()
    if follow:
        try:
            sys.stdout.flush()
            for event in eventlog.follow(store, since or 0.0, agent, after_id=last_id):
                if host is None or event.host == host:
                    print(show(event), flush=True)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


@command(name="logs")
@click.argument("name", metavar="NAME", shell_complete=complete_agents)
@click.option("-n", "--lines", type=int, default=100, show_default=True, help="How many lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing output as it arrives, across rotations and runs.")
@click.option("--raw", is_flag=True, help="The bytes as the pane printed them (escapes, spinner frames and all).")
@click.option("--color", is_flag=True, help="Keep the colours the screen showed.")
@pass_fleet
def logs(ctx: FleetContext, name: str, lines: int, follow: bool, raw: bool, color: bool) -> int:
    """An agent's (or a task window's, `pool.id`) pane output as its screen showed it, kept in a
    log file per run (also after it ended).

    The bytes are played through a terminal emulator: a spinner redrawn in place shows as its
    last frame, and cursor moves and control sequences act instead of being printed.
    """
    from fleetctl import logview
    from fleetctl.redact import redact
    from fleetctl.runtime.status import task_window_name
    from fleetctl.screentext import ScreenText

    fleet = ctx.fleet()
    window = task_window_name(fleet, name)  # a pool's task window: `pool.id`
    if not window:
        fleet.resolve([name])
    directory = fleet.logs_dir / name
    if not follow and not logview.log_files(directory):
        hint = "its task has not run yet (`fleetctl task show`)" if window else f"start it with `fleetctl up {name}`"
        raise UsageError(f"{name} has no logs yet in {directory}", hint=hint)

    def show_lines(shown: list[str]) -> None:
        for line in shown:
            line = redact(line, fleet.secrets)
            print(line if color else printable(line, keep_layout=True))
        sys.stdout.flush()

    if raw:
        chunks = logview.follow(directory, lines) if follow else iter([logview.tail(directory, lines)])
        try:
            for chunk in chunks:
                sys.stdout.write(redact(chunk.decode("utf-8", "replace"), fleet.secrets))
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    if not follow:
        show_lines(logview.rendered_tail(directory, lines, color=color))
        return EXIT_OK
    screen = ScreenText(color=color)
    done = 0
    try:
        for index, chunk in enumerate(logview.follow(directory, lines * logview.RENDER_LINES_FACTOR)):
            screen.feed(chunk)
            shown, done = screen.settled(done)
            show_lines(shown[-lines:] if index == 0 else shown)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


@command(name="doctor")
@click.argument("names", nargs=-1, shell_complete=complete_agents)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of checks.")
@click.option(
    "--no-agent-checks", "no_agent_checks", is_flag=True, help="Skip the kinds' one-shot prompts (they spend tokens)."
)
@pass_fleet
def doctor(ctx: FleetContext, names: tuple[str, ...], as_json: bool, no_agent_checks: bool) -> int:
    """Check the config, tmux, the state dir and lock, then boot each agent in a throwaway server.

    Each agent is started exactly as a real spawn (wrapper, pid, port, min_uptime), its output is
    scanned for doctor_patterns, and it is stopped. The running fleet is never touched. Then each
    agent or pool of a kind with a check (claude, codex, gemini, aider) runs that check, a one-shot
    prompt with its own env and cwd, and reports ok, auth, limited until a time, or check failed.
    Exit 1 if any check fails.
    """
    from fleetctl import doctor as doc
    from fleetctl.procs import ProcessGateway

    checks: list[doc.Check] = []
    try:
        spec = ctx.spec()
    except FleetError as exc:
        checks.append(doc.Check("config", False, exc.message + (f" ({exc.hint})" if exc.hint else "")))
        spec = None
    if spec is not None:
        checks.append(doc.Check("config", True, f"{spec.path}: {len(spec.agents)} agents, {len(spec.pools)} pools"))
    checks.append(doc.check_tmux())
    checks.append(doc.check_log_writer())
    if spec is not None:
        checks.append(doc.check_state_dir(spec.state_dir))
        checks.append(doc.check_lock(spec.state_dir, ProcessGateway().alive))
        checks.append(doc.check_database(spec.state_dir, spec.store))
        unmatched = doc.check_unmatched_tasks(spec) if checks[-1].ok else None
        if unmatched is not None:
            checks.append(unmatched)
        from fleetctl.worktreesize import check_worktrees

        worktrees = check_worktrees(spec)
        if worktrees is not None:
            checks.append(worktrees)
    _print_checks(checks, as_json, final=False)
    agent_checks: list[doc.Check] = []
    tmux_ok = all(c.ok for c in checks if c.name == "tmux")
    if spec is not None:
        from fleetctl.fleet import Fleet

        agents = Fleet(spec).resolve(names)
        if tmux_ok:
            agent_checks = doc.check_agents(spec, agents)
        if not no_agent_checks:
            from fleetctl.agentcheck import check_keys

            _print_checks(agent_checks, as_json, final=False)
            checks, agent_checks = checks + agent_checks, []
            agent_checks = check_keys(spec, agents, spec.pools if not names else ())
    _print_checks(agent_checks, as_json, final=True, before=checks)
    return EXIT_OK if all(c.ok for c in checks + agent_checks) else EXIT_FAILED


def _print_checks(checks: list[Check], as_json: bool, final: bool, before: list[Check] | None = None) -> None:
    if as_json:
        if final:
            print(json.dumps([c.as_json() for c in (before or []) + checks], indent=1))
        return
    for c in checks:
        print(f"{'ok' if c.ok else 'FAIL':<5} {c.name:<16} {printable(c.detail)}", flush=True)


@command(name="metrics")
@click.option(
    "--textfile",
    type=click.Path(),
    metavar="PATH",
    help="Write atomically to PATH (node_exporter's textfile collector).",
)
@pass_fleet
def metrics(ctx: FleetContext, textfile: str | None) -> int:
    """The fleet in Prometheus text format: agents by state, respawns, tasks, cycle and observation times."""
    from fleetctl import metrics as metrics_module

    fleet = ctx.fleet()
    text = metrics_module.render(metrics_module.collect(fleet))
    if textfile:
        metrics_module.write_textfile(Path(textfile).expanduser().absolute(), text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


@command(name="cron")
@click.option("--every", default="5m", show_default=True, help="How often: 1m..59m, whole hours, or 1d.")
@pass_fleet
def cron(ctx: FleetContext, every: str) -> int:
    """Print the crontab line that runs `reconcile` for this fleet (install with `crontab -e`).

    The line uses absolute paths, carries PATH (for tmux) and TMUX_TMPDIR, and runs under
    `flock -n`, so a slow pass is never stacked on by the next one.
    """
    print(cron_line(ctx.spec(), every))
    return EXIT_OK


def cron_line(spec: FleetSpec, every: str) -> str:
    """One crontab line; `%` is escaped because cron turns it into a newline."""
    from fleetctl.timespec import parse_interval

    schedule = _schedule(parse_interval(every))
    if schedule is None:
        raise UsageError(f"--every {every!r}: cron cannot run that schedule", hint="use 1m..59m, 1h..23h or 1d")
    state = spec.state_dir
    tmux = shutil.which("tmux")
    path_dirs = [str(Path(tmux).parent)] if tmux else []
    path_dirs += [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if d not in path_dirs]
    env = [f"PATH={':'.join(path_dirs)}"]
    if os.environ.get("TMUX_TMPDIR"):
        env.append(f"TMUX_TMPDIR={shlex.quote(os.environ['TMUX_TMPDIR'])}")
    command = [sys.executable, "-m", "fleetctl", "-c", str(spec.path), "reconcile"]
    flock = shutil.which("flock")
    if flock:
        command = [flock, "-n", str(state / "cron.lock"), *command]
    log = state / "cron.log"
    line = (
        f"cd {shlex.quote(str(spec.path.parent))} && mkdir -p {shlex.quote(str(state))} && "
        f"{' '.join(env)} {shlex.join(command)} >> {shlex.quote(str(log))} 2>&1"
    )
    return f"{schedule} " + line.replace("%", "\\%")


def _schedule(seconds: float) -> str | None:
    if seconds < 60 or seconds % 60:
        return None
    minutes = int(seconds // 60)
    if minutes < 60:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60 == 0 and minutes // 60 < 24:
        hours = minutes // 60
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if minutes == 24 * 60:
        return "0 0 * * *"
    return None
