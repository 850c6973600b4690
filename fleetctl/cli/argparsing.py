"""argparse, for what the plain parser in fleetctl.cli hands over: help, --version and every usage error.

It is imported only then: importing and building it costs more than a whole `fleetctl status`
observation, so a well-formed command line never pays for it.
"""

from __future__ import annotations

import argparse
import sys

from fleetctl.cli import ParserExit, Syntax
from fleetctl.errors import UsageError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    from typing import Any


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
    """argparse for one Syntax, raising instead of exiting: a usage error is one `error:` line and exit code 2.

    The help text (docstring, command list) is laid out only when help is shown, not on every run.
    """

    def __init__(self, syntax: Syntax) -> None:
        super().__init__(prog=syntax.prog, usage=syntax.usage, formatter_class=HelpFormatter, allow_abbrev=False,
                         add_help=False)  # fmt: skip
        self.add_argument("-h", "--help", action="help", help="Show this message and exit.")
        for flags, kwargs in syntax.arguments:
            self.add_argument(*flags, **kwargs)
        self.syntax = syntax

    def parse(self, argv: list[str]) -> dict[str, Any]:
        try:  # options may come after positionals (`status web --json`), as with any command line tool
            return vars(self.parse_intermixed_args(argv))
        except UsageError:
            if "--" not in argv:
                raise
            return vars(self.parse_args(argv))  # intermixed parsing rejects a leading `--` (`send -- w -x`)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument; a fixed width there spares importing
        # shutil for the terminal size (milliseconds per call) until help is really shown.
        return self.formatter_class(prog=self.prog, width=self.columns)  # type: ignore[call-arg]

    columns = 80

    def format_help(self) -> str:
        import shutil

        self.columns = shutil.get_terminal_size().columns
        self.description = _dedent(self.syntax.doc)
        if self.syntax.commands:
            self.epilog = _listing("commands", self.syntax.commands())
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
