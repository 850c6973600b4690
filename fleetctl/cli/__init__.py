"""The CLI root: global options, lazy dispatch, and the one place that turns FleetError into stderr + exit code.

The root parses the global options and the command name, then imports just that command's module,
which declares its arguments with `@command` in argparse's terms, so `fleetctl status` never pays for
the TUI, the task board or the operator tools. A well-formed command line is parsed here without
argparse (plain_parse); help and usage errors are argparse's (fleetctl.cli.argparsing).
"""

from __future__ import annotations

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


class Syntax:
    """What one command line (`fleetctl`, `fleetctl task`, `fleetctl status`) accepts, and its help.

    A well-formed command line is parsed by plain_parse; anything else goes to argparse
    (fleetctl.cli.argparsing), which alone shows help and words usage errors.
    """

    __slots__ = ("arguments", "commands", "doc", "prog", "usage")

    def __init__(self, prog: str, doc: str | None, arguments: tuple[Argument, ...] = (),
                 commands: Callable[[], dict[str, str]] | None = None, usage: str | None = None) -> None:  # fmt: skip
        self.prog = prog
        self.doc = doc
        self.arguments = arguments
        self.commands = commands
        self.usage = usage

    def parse(self, argv: list[str]) -> dict[str, Any]:
        values = plain_parse(self.arguments, argv)
        return values if values is not None else self.parser().parse(argv)

    def parser(self):  # type: ignore[no-untyped-def]  # an argparsing.Parser
        from fleetctl.cli.argparsing import Parser

        return Parser(self)


_PLAIN_ACTIONS = (None, "store", "store_true", "append", "count")
_PLAIN_KEYS = frozenset(
    ("action", "dest", "default", "type", "choices", "required", "nargs", "metavar", "help", "version")
)
_MISSING = object()


def plain_parse(arguments: tuple[Argument, ...], argv: list[str]) -> dict[str, Any] | None:
    """What argparse would make of a plain command line, or None: then argparse itself decides.

    Plain: every option spelled exactly as declared (no abbreviation, `--opt=value` or `-vv`),
    no `--`, no option value starting with "-", every value converting, the positionals fitting
    (at most one of them of variable length), nothing required missing. Help, --version and
    every usage error are argparse's; importing and building it would cost `fleetctl status`
    more than its whole observation.
    """
    options: dict[str, tuple[str, dict[str, Any]]] = {}  # each flag -> (dest, its declaration); "" dest: not plain
    declared: dict[str, dict[str, Any]] = {}  # each plain option's dest -> its declaration
    positionals: list[tuple[str, dict[str, Any]]] = []
    values: dict[str, Any] = {}
    for flags, kw in arguments:
        if not _PLAIN_KEYS.issuperset(kw):
            return None
        if not flags[0].startswith("-"):
            positionals.append((flags[0], kw))
            continue
        action = kw.get("action")
        if action not in _PLAIN_ACTIONS or "nargs" in kw:  # e.g. version: argparse's alone; it leaves no value
            options.update(dict.fromkeys(flags, ("", kw)))
            continue
        dest = kw.get("dest") or next((f for f in flags if f.startswith("--")), flags[0]).lstrip("-").replace("-", "_")
        options.update(dict.fromkeys(flags, (dest, kw)))
        declared[dest] = kw
        default = kw.get("default", False if action == "store_true" else None)
        values[dest] = list(default) if isinstance(default, list) else default
    given: set[str] = set()
    words: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("-") or token == "-":
            words.append(token)
            continue
        dest, kw = options.get(token, ("", {}))
        if not dest:
            return None
        given.add(dest)
        action = kw.get("action")
        if action == "store_true":
            values[dest] = True
        elif action == "count":
            values[dest] = (values[dest] or 0) + 1
        else:
            if i == len(argv) or argv[i].startswith("-"):
                return None
            value = _convert(kw, argv[i])
            i += 1
            if value is _MISSING:
                return None
            values[dest] = [*(values[dest] or []), value] if action == "append" else value
    for dest, kw in declared.items():
        if dest in given:
            continue
        if kw.get("required"):
            return None
        if isinstance(values[dest], str) and "type" in kw:  # argparse converts a string default too
            values[dest] = _convert(kw, values[dest])
            if values[dest] is _MISSING:
                return None
    return _place(positionals, words, values)


def _place(
    positionals: list[tuple[str, dict[str, Any]]], words: list[str], values: dict[str, Any]
) -> dict[str, Any] | None:
    """Deal the positional words out as argparse does: one each, the rest to the one of variable length."""
    variable = [kw.get("nargs") for _, kw in positionals if kw.get("nargs") is not None]
    spare = len(words) - (len(positionals) - len(variable))
    if len(variable) > 1 or spare < 0 or (not variable and spare):
        return None
    for name, kw in positionals:
        nargs = kw.get("nargs")
        if nargs is None:
            value = _convert(kw, words.pop(0))
        elif nargs == "?" and spare <= 1:
            value = _convert(kw, words.pop(0)) if spare else kw.get("default")
            if not spare and isinstance(value, str) and "type" in kw:  # a string default is converted
                value = _convert(kw, value)
        elif (nargs == "*" and "default" not in kw) or (nargs == "+" and spare >= 1):
            taken, words[:spare] = words[:spare], []
            value = [_convert(kw, word) for word in taken]
            if _MISSING in value:
                return None
        else:
            return None
        if value is _MISSING:
            return None
        values[name] = value
    return values


def _convert(kw: dict[str, Any], text: str) -> Any:
    """A value as argparse would convert it, or _MISSING when argparse would refuse it."""
    kind = kw.get("type")
    try:
        value = kind(text) if kind else text
    except Exception:  # argparse words the error (ArgumentTypeError, ValueError, ...)
        return _MISSING
    return _MISSING if "choices" in kw and value not in kw["choices"] else value


_ROOT_VALUE_OPTION = re.compile(r"-v*c|--config")
ROOT_ARGUMENTS: tuple[Argument, ...] = (
    arg("-c", "--config", metavar="PATH", help="Fleet file (default: $FLEETCTL_CONFIG, else ./fleet.toml upward)."),
    arg("-v", "--verbose", action="count", default=0, help="Log to stderr (-vv for debug)."),
    arg("--version", action="version", version=f"fleetctl {__version__}", help="Show the version and exit."),
)


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


def _pick(syntax: Syntax, argv: list[str], name: str | None, names: list[str]) -> str:
    """The command a group runs; a bare group prints its help (exit 2), an unknown name is one error line."""
    where = syntax.prog.removeprefix("fleetctl").strip()
    prefix = f"{where}: " if where else ""
    if name is None:
        if not argv:
            syntax.parser().print_help(sys.stderr)
            raise ParserExit(EXIT_USAGE)
        raise UsageError(f"{prefix}missing command (commands: {', '.join(names)})")
    if name not in names:
        raise UsageError(f"{prefix}no such command {name!r} (commands: {', '.join(names)})")
    return name


def _invoke(ctx: Context, name: str, argv: list[str]) -> int:
    cmd = REGISTRY[name]
    if cmd.group:
        subs = {key.rpartition(" ")[2]: c for key, c in REGISTRY.items() if key.startswith(f"{name} ")}
        syntax = Syntax(f"fleetctl {name}", cmd.func.__doc__, usage="%(prog)s [-h] COMMAND [ARGS]...",
                        commands=lambda: {sub: summary(c.func.__doc__) for sub, c in subs.items()})  # fmt: skip
        head, sub, rest = _split(argv, None)
        syntax.parse(head)
        return _invoke(ctx, f"{name} {_pick(syntax, argv, sub, list(subs))}", rest)
    values = Syntax(f"fleetctl {name}", cmd.func.__doc__, cmd.arguments).parse(argv)
    result = cmd.func(ctx, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return result if isinstance(result, int) else EXIT_OK


ROOT = Syntax("fleetctl", DESCRIPTION, ROOT_ARGUMENTS, _summaries,
              usage="%(prog)s [-h] [-c PATH] [-v] [--version] COMMAND [ARGS]...")  # fmt: skip


def _run(argv: list[str]) -> int:
    head, name, rest = _split(argv, _ROOT_VALUE_OPTION)
    options = ROOT.parse(head)
    name = _pick(ROOT, argv, name, list(COMMANDS))
    if options["verbose"]:
        import logging

        logging.basicConfig(level=logging.DEBUG if options["verbose"] > 1 else logging.INFO, stream=sys.stderr)
    __import__(f"fleetctl.cli.{COMMANDS[name]}")  # the import statement's path: `-X importtime` lists it
    return _invoke(Context(options["config"]), name, rest)


_teardown = {"skip": False}


def skip_teardown() -> None:
    """Called by a command that has written everything it writes (status): the process may end
    without the interpreter's teardown, which frees every module and object one by one (at a
    hundred agents some 5 ms, a twelfth of a status)."""
    _teardown["skip"] = True


def entry() -> None:
    """The `fleetctl` console script and `python -m fleetctl`."""
    code = main()
    if _teardown["skip"]:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)  # let the interpreter's own exit deal with it
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests call this directly)."""
    _teardown["skip"] = False
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
