"""The CLI root: global options, lazy dispatch, and the one place that turns FleetError into stderr + exit code.

argparse only (no third-party parser): the root parses the global options and the command name, then
imports just that command's module, which declares its arguments with `@command`, so `fleetctl status`
never pays for the TUI, the task board or the operator tools.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from fleetctl import __version__
from fleetctl.errors import FleetError, UsageError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost `fleetctl --help` milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    Argument = tuple[tuple[str, ...], dict[str, Any]]
    F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DEGRADED = 0, 1, 2, 3

DESCRIPTION = """Run a fleet of agents in tmux, prove every spawn, repair it unattended.

Examples:
  fleetctl up                 start every agent and verify each one
  fleetctl status --json      one observation, as JSON
  fleetctl reconcile          repair the fleet (for cron)
  fleetctl down web           stop one agent and everything it started"""

# Which module defines each command. Only the invoked command's module is imported; the root
# help imports them all to list each command's first docstring sentence.
COMMANDS: dict[str, str] = {
    "up": "lifecycle", "down": "lifecycle", "restart": "lifecycle", "reconcile": "lifecycle",
    "supervise": "lifecycle", "reset": "lifecycle", "heartbeat": "lifecycle",
    "status": "status", "attach": "misc", "init": "misc",
    "report": "ops", "events": "ops", "logs": "ops", "doctor": "ops", "metrics": "ops", "cron": "ops",
    "task": "tasks", "send": "tasks", "inbox": "tasks", "tui": "tui",
}  # fmt: skip


class Context:
    """Built once per invocation; loads the fleet file only when a command needs it."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._fleet = None

    def spec(self):  # type: ignore[no-untyped-def]
        from pathlib import Path

        from fleetctl import spec

        path = spec.find_config(self.config, os.environ, Path.cwd())
        return spec.load(path)

    def fleet(self, **kwargs: object):  # type: ignore[no-untyped-def]
        from fleetctl.fleet import Fleet

        return Fleet(self.spec(), **kwargs)  # type: ignore[arg-type]


# --- declaring commands ----------------------------------------------------------


class Command:
    """One command as its module declares it: the function, its arguments, and its docstring as help."""

    __slots__ = ("arguments", "func", "group")

    def __init__(self, func: Callable[..., Any], arguments: tuple[Argument, ...], group: bool) -> None:
        self.func = func
        self.arguments = arguments
        self.group = group


REGISTRY: dict[str, Command] = {}


def arg(*flags: str, **kwargs: Any) -> Argument:
    """One argparse argument (the same parameters as ArgumentParser.add_argument)."""
    return flags, kwargs


def command(name: str, *arguments: Argument, group: bool = False) -> Callable[[F], F]:
    """Register func as `fleetctl <name>` ("task add" for a subcommand); it is called as func(ctx, **options).

    A group (`task`) only contributes its docstring: its subcommands are the registered "<name> ..." ones.
    """

    def register(func: F) -> F:
        REGISTRY[name] = Command(func, arguments, group)
        return func

    return register


def summary(doc: str | None) -> str:
    """The first sentence of a docstring: the one line a command list shows."""
    first = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = first.find(". ")
    return first if end < 0 else first[: end + 1]


# --- parsing ---------------------------------------------------------------------


class ParserExit(Exception):
    """argparse is done before any command ran (--help, --version): main() returns this code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs; keeps indented blocks (examples, command lists) as they are written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        return "\n\n".join(
            "\n".join(indent + line for line in p.splitlines())
            if any(line[:1].isspace() for line in p.splitlines()[1:])
            else super(HelpFormatter, self)._fill_text(p, width, indent)
            for p in paragraphs
        )


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting: a usage error is one `error:` line and exit code 2.

    The help text (docstring, command list) is laid out only when help is shown, not on every run.
    """

    def __init__(
        self, prog: str, doc: str | None, commands: Callable[[], dict[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(prog=prog, formatter_class=HelpFormatter, allow_abbrev=False, add_help=False, **kwargs)
        self.add_argument("-h", "--help", action="help", help="Show this message and exit.")
        self.doc = doc
        self.commands = commands

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument; a fixed width there spares importing
        # shutil for the terminal size (milliseconds per call) until help is really shown.
        return self.formatter_class(prog=self.prog, width=self.columns)  # type: ignore[call-arg]

    columns = 80

    def format_help(self) -> str:
        import shutil

        self.columns = shutil.get_terminal_size().columns
        self.description = _dedent(self.doc)
        if self.commands:
            self.epilog = _listing("commands", self.commands())
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.removeprefix("fleetctl").strip()
        raise UsageError(f"{where}: {message}" if where else message, hint=f"see {self.prog} --help")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise ParserExit(status)


def _dedent(doc: str | None) -> str | None:
    """A docstring as help text: its first line, then the rest without the source indentation."""
    if doc is None:
        return None
    import textwrap

    first, _, rest = doc.strip().partition("\n")
    return f"{first}\n{textwrap.dedent(rest)}".strip()


def _listing(title: str, rows: dict[str, str]) -> str:
    """A `commands:` block for a help epilog: name, then its summary wrapped to the terminal."""
    import shutil
    import textwrap

    name_width = max(map(len, rows)) + 2
    width = max(shutil.get_terminal_size().columns - 2, 40)  # as argparse's own formatter
    lines = [f"{title}:"]
    for name, text in rows.items():
        lines.append(textwrap.fill(text, width, initial_indent=f"  {name:<{name_width}}",
                                   subsequent_indent=" " * (name_width + 2)))  # fmt: skip
    return "\n".join(lines)


_ROOT_VALUE_OPTION = re.compile(r"-v*c|--config")


def _split(argv: list[str], value_option: re.Pattern[str] | None) -> tuple[list[str], str | None, list[str]]:
    """Options before the command, the command name, and its arguments (passed on untouched, `--` too)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        if argv[i] == "--":
            return argv[:i], (argv[i + 1] if i + 1 < len(argv) else None), argv[i + 2 :]
        i += 2 if value_option is not None and value_option.fullmatch(argv[i]) else 1
    return argv[:i], (argv[i] if i < len(argv) else None), argv[i + 1 :]


def _summaries() -> dict[str, str]:
    """Each command's first docstring sentence, for the root help (the only place that imports every module)."""
    for module in dict.fromkeys(COMMANDS.values()):
        __import__(f"fleetctl.cli.{module}")
    return {name: summary(REGISTRY[name].func.__doc__) for name in COMMANDS}


def _root_parser() -> Parser:
    usage = "%(prog)s [-h] [-c PATH] [-v] [--version] COMMAND [ARGS]..."
    parser = Parser("fleetctl", DESCRIPTION, _summaries, usage=usage)
    parser.add_argument("-c", "--config", metavar="PATH",
                        help="Fleet file (default: $FLEETCTL_CONFIG, else ./fleet.toml upward).")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="count", default=0, help="Log to stderr (-vv for debug).")
    parser.add_argument("--version", action="version", version=f"fleetctl {__version__}",
                        help="Show the version and exit.")  # fmt: skip
    return parser


def _pick(parser: Parser, argv: list[str], name: str | None, names: list[str]) -> str:
    """The command a group runs; a bare group prints its help (exit 2), an unknown name is one error line."""
    where = parser.prog.removeprefix("fleetctl").strip()
    prefix = f"{where}: " if where else ""
    if name is None:
        if not argv:
            parser.print_help(sys.stderr)
            raise ParserExit(EXIT_USAGE)
        raise UsageError(f"{prefix}missing command (commands: {', '.join(names)})")
    if name not in names:
        raise UsageError(f"{prefix}no such command {name!r} (commands: {', '.join(names)})")
    return name


def _invoke(ctx: Context, name: str, argv: list[str]) -> int:
    cmd = REGISTRY[name]
    parser = Parser(f"fleetctl {name}", cmd.func.__doc__)
    if cmd.group:
        subs = {key.rpartition(" ")[2]: c for key, c in REGISTRY.items() if key.startswith(f"{name} ")}
        parser.usage = "%(prog)s [-h] COMMAND [ARGS]..."
        parser.commands = lambda: {sub: summary(c.func.__doc__) for sub, c in subs.items()}
        head, sub, rest = _split(argv, None)
        parser.parse_args(head)
        return _invoke(ctx, f"{name} {_pick(parser, argv, sub, list(subs))}", rest)
    for flags, kwargs in cmd.arguments:
        parser.add_argument(*flags, **kwargs)
    try:  # options may come after positionals (`status web --json`), as with any command line tool
        values = vars(parser.parse_intermixed_args(argv))
    except UsageError:
        if "--" not in argv:
            raise
        values = vars(parser.parse_args(argv))  # intermixed parsing rejects a leading `--` (`send -- w -x`)
    result = cmd.func(ctx, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return result if isinstance(result, int) else EXIT_OK


def _run(argv: list[str]) -> int:
    parser = _root_parser()
    head, name, rest = _split(argv, _ROOT_VALUE_OPTION)
    options = parser.parse_args(head)
    name = _pick(parser, argv, name, list(COMMANDS))
    if options.verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG if options.verbose > 1 else logging.INFO, stream=sys.stderr)
    __import__(f"fleetctl.cli.{COMMANDS[name]}")  # the import statement's path: `-X importtime` lists it
    return _invoke(Context(options.config), name, rest)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests call this directly)."""
    try:
        code = _run(sys.argv[1:] if argv is None else list(argv))
        sys.stdout.flush()  # a reader that went away (`| head`) shows up here, not at interpreter exit
        return code
    except ParserExit as exc:
        return exc.code
    except FleetError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _drop_stdout()
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
