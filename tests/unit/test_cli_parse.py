"""The click command line: help, version, one-line usage errors (exit 2), and lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import click
import pytest

from fleetctl import __version__
from fleetctl.cli import COMMANDS, main, root, summary
from tests.conftest import FleetHarness

SUBCOMMANDS = [
    f"task {name}"
    for name in (
        "add",
        "import",
        "list",
        "show",
        "diff",
        "cancel",
        "retry",
        "next",
        "renew",
        "done",
        "fail",
        "accept",
        "reject",
        "prune",
    )
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def lookup(path: str) -> click.Command:
    """The click command for "task add", "status", ... (imports its module, as running it would)."""
    command: click.Command = root
    for word in path.split():
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), word)
        assert found is not None, path
        command = found
    return command


def listing(help_text: str) -> list[str]:
    """The command names a help's Commands section lists, in order."""
    section = help_text.split("Commands:\n")[1]
    return [line.split()[0] for line in section.splitlines() if line[2:3].strip()]


@pytest.mark.timeout(10)
def test_help_exits_0_and_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--help")
    assert code == 0 and err == ""
    assert "Run a fleet of agents in tmux" in out and "fleetctl status --json      one observation, as JSON" in out
    assert listing(out) == list(COMMANDS)
    assert "-c, --config PATH" in out and "-v, --verbose" in out and "--version" in out
    assert run(capsys, "-h") == (0, out, "")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("command", [*COMMANDS, *SUBCOMMANDS])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run(capsys, *command.split(), "-h")
    assert code == 0 and err == ""
    assert out.startswith(f"Usage: fleetctl {command} ")
    text = " ".join(out.split())
    assert summary(lookup(command).help) in text
    for param in lookup(command).params:  # every option is shown with its help
        if isinstance(param, click.Option) and param.help:
            assert param.opts[-1] in text and " ".join(param.help.split()) in text, param.name


@pytest.mark.timeout(10)
def test_root_help_shows_each_commands_whole_first_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    section = " ".join(out.split("Commands:\n")[1].split())
    for name in COMMANDS:
        assert f"{name} {summary(lookup(name).help)}" in section, name


@pytest.mark.timeout(10)
def test_task_help_lists_its_subcommands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "task", "--help")
    assert code == 0
    assert listing(out) == [s.split()[1] for s in SUBCOMMANDS]
    assert '  fleetctl task add "Fix the flaky test" --priority 1 --label python\n' in out


@pytest.mark.timeout(10)
def test_a_bare_group_shows_its_help_as_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, first in (([], "Usage: fleetctl [OPTIONS] COMMAND"), (["task"], "Usage: fleetctl task [OPTIONS]")):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and err.startswith(first), err
        assert "Commands:" in err


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
        (["task", "add"], "error: task add: missing argument 'TITLE'", "task add"),
        (["restart"], "error: restart: missing argument 'NAMES...'", "restart"),
        (["task", "next"], "error: task next: missing option '--agent'", "task next"),
        (["task", "show", "abc"], "error: task show: invalid value for 'ID': 'abc' is not a valid", "task show"),
        (["tui", "--refresh", "0"], "error: tui: invalid value for '--refresh': 0.0 is not in the range x>=0.1", "tui"),
        (["task", "list", "--state", "late"], "error: task list: invalid value for '--state': 'late'", "task list"),
        (["status", "--jsno"], "error: status: no such option '--jsno'", "status"),
        (["task", "add", "--body"], "error: task add: option '--body' requires an argument", "task add"),
        (["--json", "status"], "error: no such option '--json'", ""),
        (["-c"], "error: option '-c' requires an argument", ""),
        (["-c", "fleet.toml"], "error: missing command", ""),
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


@pytest.mark.timeout(10)
def test_a_directory_as_a_file_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "task", "import", str(tmp_path))
    assert code == 2 and out == ""
    assert err.splitlines()[0] == f"error: task import: invalid value for 'PATH': File '{tmp_path}' is a directory."


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
    dashed = fleet_dir.run("task", "add", "--priority=1", "--", "--help")
    assert dashed.code == 0 and json.loads(fleet_dir.run("task", "show", "3", "--json").out)["title"] == "--help"


NOT_ON_THE_STATUS_PATH = {
    "fleetctl.cli.ops",
    "fleetctl.cli.tasks",
    "fleetctl.cli.messages",
    "fleetctl.cli.lifecycle",
    "fleetctl.cli.misc",
    "fleetctl.cli.tui",
    "fleetctl.tui",
    "fleetctl.tasks",
    "fleetctl.bus",
    "fleetctl.doctor",
    "fleetctl.report",
    "fleetctl.metrics",
    "argparse",
}


@pytest.mark.timeout(60)
def test_status_imports_neither_the_tui_nor_the_task_board_nor_the_operator_tools(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(f'[fleet]\nname = "imp{uuid.uuid4().hex[:8]}"\n\n[agents.a]\ncommand = "sleep 1"\n')
    sockets = tmp_path / "t"
    sockets.mkdir()
    env = {**os.environ, "TMUX_TMPDIR": str(sockets), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for extra in ([], ["--json"]):
        argv = [sys.executable, "-X", "importtime", "-m", "fleetctl", "-c", str(config), "status", *extra]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=50, check=False)
        names = (
            [row["name"] for row in json.loads(proc.stdout)]
            if extra
            else [line.split()[0] for line in proc.stdout.splitlines()[1:]]
        )
        assert names == ["a"], proc.stderr[-2000:]
        imported = {
            line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")
        }
        assert {"click", "fleetctl.cli", "fleetctl.cli.status"} <= imported
        assert not {name for name in imported if name.split(".")[0] == "textual"}
        assert not imported & NOT_ON_THE_STATUS_PATH, imported & NOT_ON_THE_STATUS_PATH
        assert "psutil" not in imported, "status answers from tmux's pane state alone"
