"""The argparse command line: help, version, one-line usage errors (exit 2), and lazy imports."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fleetctl import __version__
from fleetctl.cli import COMMANDS, REGISTRY, main, summary
from tests.conftest import FleetHarness

SUBCOMMANDS = ["task add", "task import", "task list", "task show", "task cancel", "task retry", "task next",
               "task done", "task fail"]  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.timeout(10)
def test_help_exits_0_and_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--help")
    assert code == 0 and err == ""
    assert "Run a fleet of agents in tmux" in out and "fleetctl status --json      one observation, as JSON" in out
    listed = [line.split()[0] for line in out.split("commands:\n")[1].splitlines() if line[2:3].strip()]
    assert listed == list(COMMANDS)
    assert "-c PATH, --config PATH" in out and "-v, --verbose" in out


@pytest.mark.timeout(10)
@pytest.mark.parametrize("command", [*COMMANDS, *SUBCOMMANDS])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run(capsys, *command.split(), "-h")
    assert code == 0 and err == ""
    assert out.startswith(f"usage: fleetctl {command} ")
    assert summary(REGISTRY[command].func.__doc__) in " ".join(out.split())


@pytest.mark.timeout(10)
def test_root_help_shows_each_commands_first_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    listing = " ".join(out.split("commands:\n")[1].split())
    for name in COMMANDS:
        assert f"{name} {summary(REGISTRY[name].func.__doc__)}" in listing, name


@pytest.mark.timeout(10)
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"fleetctl {__version__}\n", "")


@pytest.mark.timeout(10)
def test_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "statsu", "--json")
    assert code == 2 and out == ""
    assert err.splitlines() == [f"error: no such command 'statsu' (commands: {', '.join(COMMANDS)})"]


@pytest.mark.parametrize(
    ("argv", "error", "hint"),
    [
        (["task", "add"], "error: task add: the following arguments are required: TITLE", "task add"),
        (["restart"], "error: restart: the following arguments are required: NAMES", "restart"),
        (["task", "next"], "error: task next: the following arguments are required: --agent", "task next"),
        (["task", "show", "abc"], "error: task show: argument ID: invalid int value: 'abc'", "task show"),
        (["tui", "--refresh", "0"], "error: tui: argument --refresh: 0 is not in the range x>=0.1.", "tui"),
        (
            ["task", "list", "--state", "late"],
            "error: task list: argument --state: invalid choice: 'late'",
            "task list",
        ),
        (["status", "--jsno"], "error: status: unrecognized arguments: --jsno", "status"),
        (["--json", "status"], "error: unrecognized arguments: --json", ""),
        (["task", "frob"], "error: task: no such command 'frob' (commands: add, import, list,", None),
    ],
)
@pytest.mark.timeout(10)
def test_usage_errors_exit_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str, hint: str | None
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith(error), err
    assert lines[1:] == ([] if hint is None else [f"hint: see {f'fleetctl {hint}'.strip()} --help"]), err


@pytest.mark.timeout(30)
def test_label_repeats_and_options_follow_positionals(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 1"\n')
    added = fleet_dir.run("task", "add", "Fix it", "--label", "python", "--priority", "0", "--label", "ci")
    assert added.code == 0 and added.out == "1\n", added
    shown = json.loads(fleet_dir.run("task", "show", "1", "--json").out)
    assert sorted(shown["labels"]) == ["ci", "python"] and shown["priority"] == 0 and shown["title"] == "Fix it"
    dashed = fleet_dir.run("task", "add", "--", "-1 is not an option")
    assert dashed.code == 0 and json.loads(fleet_dir.run("task", "show", "2", "--json").out)["title"] == (
        "-1 is not an option"
    )


@pytest.mark.timeout(60)
def test_status_json_imports_neither_click_textual_nor_other_commands(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(f'[fleet]\nname = "imp{uuid.uuid4().hex[:8]}"\n\n[agents.a]\ncommand = "sleep 1"\n')
    sockets = tmp_path / "t"
    sockets.mkdir()
    env = {**os.environ, "TMUX_TMPDIR": str(sockets), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    argv = [sys.executable, "-X", "importtime", "-m", "fleetctl", "-c", str(config), "status", "--json"]
    first, proc = (subprocess.run(argv, capture_output=True, text=True, env=env, timeout=50, check=False)
                   for _ in range(2))  # fmt: skip
    assert [row["name"] for row in json.loads(proc.stdout)] == ["a"], proc.stderr[-2000:]
    assert first.stdout == proc.stdout
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"fleetctl.cli", "fleetctl.cli.status"} <= imported
    assert not {name for name in imported if name.split(".")[0] in ("click", "textual")}
    assert not imported & {"fleetctl.cli.ops", "fleetctl.cli.tasks", "fleetctl.cli.lifecycle", "fleetctl.cli.misc",
                           "fleetctl.cli.tui", "fleetctl.tui", "fleetctl.cli.argparsing"}  # fmt: skip
    # What `status` imports itself (after the interpreter's own start-up): none of the modules
    # whose import cost was taken out of it (tomllib and typing are used plainly, as issue 15 asks).
    order = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    ours = set(order[order.index("fleetctl") :])
    # (typing, shlex and signal cost under a millisecond each: not worth a lazy import)
    banned = {"dataclasses", "logging", "subprocess", "uuid", "shutil", "inspect", "argparse", "gettext"}
    if importlib.util.find_spec("_sha256") is not None:  # CPython 3.11: fingerprints need no OpenSSL
        banned.add("hashlib")
    assert not ours & banned


def _samples(arguments: tuple) -> list[list[str]]:
    """Command lines of every shape a person types: each option alone, with good and bad values, several
    positionals, options after positionals, `--`, abbreviations, `=` forms, help."""
    words = [[], ["a"], ["a", "b"], ["a", "b", "c"], ["7"], ["7", "x"], ["-"], ["-1"], ["--"], ["--", "-x"]]
    tails: list[list[str]] = [[]]
    for flags, kw in arguments:
        if not flags[0].startswith("-"):
            continue
        action = kw.get("action")
        for flag in flags:
            if action in ("store_true", "count", "version"):
                tails += [[flag], [flag, flag]]
            else:
                good = str(sorted(kw["choices"])[0]) if "choices" in kw else "3"
                tails += [
                    [flag, good],
                    [flag, "nope"],
                    [flag],
                    [flag, "-x"],
                    [f"{flag}={good}"],
                    [flag, good, flag, "4"],
                ]
        tails.append([flags[-1][:-1]])  # an abbreviation
    tails += [["-h"], ["--help"], ["--bogus"]]
    return [w + t for w in words for t in tails] + [t + w for w in words for t in tails]


def _all_syntaxes() -> list[tuple[str, tuple]]:
    from fleetctl.cli import ROOT_ARGUMENTS

    for module in dict.fromkeys(COMMANDS.values()):
        __import__(f"fleetctl.cli.{module}")
    return [("", ROOT_ARGUMENTS)] + [(name, c.arguments) for name, c in REGISTRY.items() if not c.group]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "arguments"), _all_syntaxes(), ids=lambda v: v if isinstance(v, str) else "")
def test_plain_parse_agrees_with_argparse_or_hands_over(name: str, arguments: tuple, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Whatever plain_parse answers is exactly argparse's answer; everything else goes to argparse."""
    from fleetctl.cli import ParserExit, Syntax, plain_parse
    from fleetctl.cli.argparsing import Parser
    from fleetctl.errors import UsageError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").write_text("a file")
    (tmp_path / "d").mkdir()
    answered = 0
    for argv in [*_samples(arguments), ["d"], ["a"], ["--body-file", "d"], ["--path", "x"]]:
        plain = plain_parse(arguments, list(argv))
        try:
            full: dict | None = Parser(Syntax(f"fleetctl {name}".strip(), None, arguments)).parse(list(argv))
        except (UsageError, ParserExit):
            full = None
        if plain is not None:
            answered += 1
            assert plain == full, (name, argv)
    assert answered, name  # the plain parser really takes the common command lines


@pytest.mark.timeout(10)
def test_a_plain_status_line_never_imports_argparse() -> None:
    code = ("import sys\nfrom fleetctl.cli import ROOT, REGISTRY, Syntax\nimport fleetctl.cli.status\n"
            "ROOT.parse(['-c', 'f.toml'])\n"
            "Syntax('fleetctl status', None, REGISTRY['status'].arguments).parse(['a', '--json'])\n"
            "print('argparse' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10, check=True)
    assert done.stdout.strip() == "False", done.stderr
