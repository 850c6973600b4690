"""What every command module shares: the lazy group, the command class, the fleet context, text limits.

Command modules import this, never the root (fleetctl.cli), so the root can import them lazily
without an import circle.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from fleetctl.fleet import Fleet
    from fleetctl.model import FleetSpec

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEGRADED = 0, 1, 2, 3

# The most a task's body, result or failure reason may hold (UTF-8 bytes): text for people and
# agents to read, not a place for files. README.md and each --help say so. (A title holds 500
# characters and a message 10,000: the task board and the bus check those.)
MAX_TEXT_BYTES = 64 * 1024
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class FleetContext:
    """Built once per invocation (click's ctx.obj); loads the fleet file only when a command needs it."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self.state_dir_checked = False

    def spec(self) -> FleetSpec:
        from pathlib import Path

        from fleetctl import spec

        return spec.load(spec.find_config(self.config, os.environ, Path.cwd()))

    def fleet(self, **kwargs: Any) -> Fleet:
        from fleetctl.fleet import Fleet

        spec = self.spec()
        self.warn_state_dir(spec)
        return Fleet(spec, **kwargs)

    def warn_state_dir(self, spec: FleetSpec) -> None:
        """One stderr line, once per command, when other users can read the state dir. Not in
        an agent's own calls (FLEET_AGENT set): the line is for the person, and an agent would
        read it in every tool call's output."""
        if self.state_dir_checked or os.environ.get("FLEET_AGENT"):
            return
        self.state_dir_checked = True
        from fleetctl.statedir import state_dir_warning

        warning = state_dir_warning(spec.state_dir)
        if warning:
            click.echo(f"warning: {warning}", err=True)


pass_fleet = click.make_pass_decorator(FleetContext)


def complete_agents(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of an agent name: the fleet file's agents (nothing when it cannot be read)."""
    from fleetctl.errors import FleetError

    try:
        agents = FleetContext(ctx.find_root().params.get("config")).spec().agents
    except FleetError:
        return []
    names = dict.fromkeys([*(a.base for a in agents if a.replica is not None), *(a.name for a in agents)])
    return [name for name in names if name.startswith(incomplete)]


def summary(doc: str | None) -> str:
    """The first sentence of a docstring: the one line a command list shows."""
    first = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = first.find(". ")
    return first if end < 0 else first[: end + 1]


class NoSuchCommand(click.UsageError):
    """An unknown command name; its message lists the commands, so it needs no hint."""


class FleetCommand(click.Command):
    """A command whose text arguments must be valid UTF-8 (argv bytes that are not arrive as
    surrogate escapes, which nothing downstream can store or print)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _in_context(ctx):
            rest = super().parse_args(ctx, args)
        for param in self.params:
            if isinstance(param.type, click.Path):  # a file name may be any bytes the file system allows
                continue
            value = ctx.params.get(param.name or "")
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, str) and not _is_utf8(text):
                    raw = text.encode("utf-8", "surrogateescape")
                    raise click.BadParameter(f"{raw!r} is not valid UTF-8; nothing was changed", ctx, param)
        return rest


@contextlib.contextmanager
def _in_context(ctx: click.Context) -> Iterator[None]:
    """Usage errors from click's option parser carry no context; give them the command's, for the hint."""
    try:
        yield
    except click.UsageError as exc:
        if exc.ctx is None:
            exc.ctx = ctx
        raise


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class LazyGroup(click.Group):
    """A group that maps each command name to "module:function" and imports only the one invoked
    (click's documented pattern for lazily loaded subcommands), so `fleetctl status` never pays for
    the TUI, the task board or the operator tools. Its help lists each command's first sentence
    (this imports every command module, as listing them must)."""

    command_class = FleetCommand

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy_subcommands, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_subcommands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy_subcommands[cmd_name].partition(":")
        # __import__ rather than importlib.import_module: `python -X importtime` lists only the former.
        found = getattr(__import__(module_name, fromlist=[attribute]), attribute)
        if not isinstance(found, click.Command):
            raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command")
        return found

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _in_context(ctx):
            return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name.startswith("-") or name in self.list_commands(ctx) or ctx.resilient_parsing:
            return super().resolve_command(ctx, args)
        where = f"{ctx.command_path.removeprefix('fleetctl').strip()}: " if ctx.parent else ""
        commands = ", ".join(self.list_commands(ctx))
        raise NoSuchCommand(f"{where}no such command {name!r} (commands: {commands})", ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or summary(command.help)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class BoundedText(click.ParamType[str]):
    """Text of at most MAX_TEXT_BYTES (as UTF-8): over it, one usage line and nothing stored."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str):
            size = len(value.encode("utf-8", "surrogateescape"))
            if size > MAX_TEXT_BYTES:
                self.fail(
                    f"{size} bytes, over the limit of {MAX_TEXT_BYTES // 1024} KiB; nothing was changed", param, ctx
                )
        return str(value)


TEXT = BoundedText()


def command(**kwargs: Any) -> Callable[[Callable[..., Any]], FleetCommand]:
    """click.command with fleetctl's command class and settings (-h as --help)."""
    kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
    return click.command(cls=FleetCommand, **kwargs)
