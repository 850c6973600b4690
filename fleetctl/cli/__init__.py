"""The click root: global options, one place that turns FleetError into stderr + exit code."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from fleetctl import __version__
from fleetctl.errors import FleetError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEGRADED = 0, 1, 2, 3


class Context:
    """Built once per invocation; loads the fleet file only when a command needs it."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._fleet = None

    def spec(self):  # type: ignore[no-untyped-def]
        from fleetctl import spec

        path = spec.find_config(self.config, os.environ, Path.cwd())
        return spec.load(path)

    def fleet(self, **kwargs: object):  # type: ignore[no-untyped-def]
        from fleetctl.fleet import Fleet

        return Fleet(self.spec(), **kwargs)  # type: ignore[arg-type]


pass_ctx = click.make_pass_decorator(Context)

# Which module defines each command: only the invoked command's module is imported, so
# `status` never pays for the TUI, the task board or the operator tools.
COMMAND_MODULES = {
    "up": "lifecycle", "down": "lifecycle", "restart": "lifecycle", "reconcile": "lifecycle",
    "supervise": "lifecycle", "reset": "lifecycle", "heartbeat": "lifecycle",
    "status": "status", "attach": "misc", "init": "misc",
    "report": "ops", "events": "ops", "logs": "ops", "doctor": "ops", "metrics": "ops", "cron": "ops",
    "task": "tasks", "send": "tasks", "inbox": "tasks", "tui": "tui",
}  # fmt: skip


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            import importlib

            importlib.import_module(f"fleetctl.cli.{module}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c", "--config", metavar="PATH", help="Fleet file (default: $FLEETCTL_CONFIG, else ./fleet.toml upward)."
)
@click.option("-v", "--verbose", count=True, help="Log to stderr (-vv for debug).")
@click.version_option(__version__, "--version", prog_name="fleetctl")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int) -> None:
    """Run a fleet of agents in tmux, prove every spawn, repair it unattended.

    \b
    Examples:
      fleetctl up                 start every agent and verify each one
      fleetctl status --json      one observation, as JSON
      fleetctl reconcile          repair the fleet (for cron)
      fleetctl down web           stop one agent and everything it started
    """
    if verbose:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, stream=sys.stderr)
    ctx.obj = Context(config)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests call this directly)."""
    try:
        result = cli.main(args=argv, prog_name="fleetctl", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_FAILED
    except FleetError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    return result if isinstance(result, int) else EXIT_OK
