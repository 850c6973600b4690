"""The CLI root: global options, the lazily loaded commands, and the one place that turns errors into
stderr + an exit code.

Each command lives in the module named below and is imported only when it runs (or when a help
or completion has to list it), so `fleetctl status` never pays for the TUI, the task board or
the operator tools.
"""

from __future__ import annotations

import os
import sys

import click

from fleetctl import __version__
from fleetctl.cli.base import (
    CONTEXT_SETTINGS,
    EXIT_DEGRADED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    FleetContext,
    LazyGroup,
    NoSuchCommand,
    summary,
)
from fleetctl.errors import FleetError

__all__ = ["COMMANDS", "EXIT_DEGRADED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "entry", "main", "root", "summary"]

COMPLETE_VAR = "_FLEETCTL_COMPLETE"

DESCRIPTION = """Run a fleet of agents in tmux, prove every spawn, repair it unattended.

\b
Examples:
  fleetctl up                 start every agent and verify each one
  fleetctl status --json      one observation, as JSON
  fleetctl reconcile          repair the fleet (for cron)
  fleetctl down web           stop one agent and everything it started"""

# Where each command is defined, in the order the root help lists them.
COMMANDS: dict[str, str] = {
    "up": "fleetctl.cli.lifecycle:up",
    "down": "fleetctl.cli.lifecycle:down",
    "restart": "fleetctl.cli.lifecycle:restart",
    "resume": "fleetctl.cli.sessions:resume",
    "reconcile": "fleetctl.cli.lifecycle:reconcile",
    "supervise": "fleetctl.cli.lifecycle:supervise",
    "reset": "fleetctl.cli.lifecycle:reset",
    "heartbeat": "fleetctl.cli.lifecycle:heartbeat",
    "status": "fleetctl.cli.status:status",
    "attach": "fleetctl.cli.misc:attach",
    "init": "fleetctl.cli.misc:init",
    "report": "fleetctl.cli.ops:report",
    "events": "fleetctl.cli.ops:events",
    "logs": "fleetctl.cli.ops:logs",
    "doctor": "fleetctl.cli.ops:doctor",
    "metrics": "fleetctl.cli.ops:metrics",
    "cron": "fleetctl.cli.ops:cron",
    "task": "fleetctl.cli.tasks:task",
    "send": "fleetctl.cli.messages:send",
    "inbox": "fleetctl.cli.messages:inbox",
    "answer": "fleetctl.cli.steer:answer",
    "keys": "fleetctl.cli.steer:keys",
    "tui": "fleetctl.cli.tui:tui",
    "store": "fleetctl.cli.store:store",
    "kinds": "fleetctl.cli.kinds:kinds",
}


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS, help=DESCRIPTION, context_settings=CONTEXT_SETTINGS)
@click.option(
    "-c",
    "--config",
    metavar="PATH",
    help="Fleet file (default: $FLEETCTL_CONFIG, else ./fleet.toml upward).",
)
@click.option("-v", "--verbose", count=True, help="Log to stderr (-vv for debug).")
@click.version_option(
    __version__, "--version", prog_name="fleetctl", message="%(prog)s %(version)s", help="Show the version and exit."
)
@click.pass_context
def root(ctx: click.Context, config: str | None, verbose: int) -> None:
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, stream=sys.stderr)
    ctx.obj = FleetContext(config)


def entry() -> None:
    """The `fleetctl` console script and `python -m fleetctl`."""
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests call this directly)."""
    if COMPLETE_VAR in os.environ:
        return _complete()
    try:
        with root.make_context("fleetctl", sys.argv[1:] if argv is None else list(argv)) as ctx:
            result = root.invoke(ctx)
        sys.stdout.flush()  # a reader that went away (`| head`) shows up here, not at interpreter exit
        return result if isinstance(result, int) else EXIT_OK
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # `fleetctl`, `fleetctl task`: the help, as a usage error
        print(exc.ctx.get_help() if exc.ctx else exc.format_message(), file=sys.stderr)
        return EXIT_USAGE
    except click.UsageError as exc:
        _usage_error(exc)
        return EXIT_USAGE
    except click.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except FleetError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, click.Abort):
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_OK


def _usage_error(exc: click.UsageError) -> None:
    """One `error:` line naming the command, and a hint line pointing at its help."""
    message = " ".join(exc.format_message().split())
    message = message[:1].lower() + message[1:]
    if isinstance(exc, NoSuchCommand) or exc.ctx is None:
        print(f"error: {message}", file=sys.stderr)
        return
    where = exc.ctx.command_path.removeprefix("fleetctl").strip()
    print(f"error: {where}: {message}" if where else f"error: {message}", file=sys.stderr)
    print(f"hint: see {exc.ctx.command_path} --help", file=sys.stderr)


def _complete() -> int:
    """Shell completion (`_FLEETCTL_COMPLETE=bash_source fleetctl`): click prints the script or the candidates."""
    try:
        root.main(args=[], prog_name="fleetctl", complete_var=COMPLETE_VAR)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    return EXIT_OK


def _drop_stdout() -> None:
    """If stdout's reader went away, point it at /dev/null so the interpreter's last flush stays quiet."""
    try:
        sys.stdout.flush()
        return
    except BrokenPipeError:
        fd = sys.stdout.fileno()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
