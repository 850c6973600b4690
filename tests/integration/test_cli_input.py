"""Hostile input at the real command line (a separate process): bytes that are not UTF-8, text over the
documented size, and control characters, which every human table shows escaped while --json keeps them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fleetctl.cli.base import MAX_TEXT_BYTES
from tests.conftest import CliResult, FleetHarness

AGENT = '[agents.a]\ncommand = "sleep 100"\n'
ESC = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, set the window title, ring the bell


def run_bytes(fleet: FleetHarness, *args: bytes) -> CliResult:
    """The CLI as a process, with argv given as raw bytes (what a shell passes for `$(printf 'x\\xff')`)."""
    argv = [os.fsencode(sys.executable), b"-m", b"fleetctl", b"-c", os.fsencode(fleet.path), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def one_usage_line(result: CliResult, command: str, starts: str) -> None:
    """Exit 2, nothing on stdout, an `error:` line and the hint: never a traceback."""
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err, result
    assert result.err.splitlines()[1:] == [f"hint: see fleetctl {command} --help"], result.err
    assert result.err.startswith(f"error: {command}: {starts}"), result.err


@pytest.mark.timeout(60)
def test_arguments_that_are_not_utf8_are_refused_and_nothing_is_stored(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(AGENT)
    sent = run_bytes(fleet_dir, b"send", b"a", b"x\xff")
    one_usage_line(sent, "send", "invalid value for 'TEXT': b'x\\xff' is not valid UTF-8; nothing was changed")
    titled = run_bytes(fleet_dir, b"task", b"add", b"fix \xfe it")
    one_usage_line(titled, "task add", "invalid value for 'TITLE': b'fix \\xfe it' is not valid UTF-8")
    bodied = run_bytes(fleet_dir, b"task", b"add", b"fine", b"--body", b"\xc3(")
    one_usage_line(bodied, "task add", "invalid value for '--body': b'\\xc3(' is not valid UTF-8")
    labelled = run_bytes(fleet_dir, b"task", b"add", b"fine", b"--label", b"\x80")
    one_usage_line(labelled, "task add", "invalid value for '--label': b'\\x80' is not valid UTF-8")
    assert json.loads(fleet_dir.run_process("task", "list", "--json").out) == []
    assert json.loads(fleet_dir.run_process("inbox", "a", "--json").out) == []


@pytest.mark.timeout(60)
def test_a_task_body_is_bounded_to_64_kib(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(AGENT)
    assert MAX_TEXT_BYTES == 64 * 1024
    over = fleet_dir.run_process("task", "add", "big", "--body", "é" * (MAX_TEXT_BYTES // 2) + "x")
    size = MAX_TEXT_BYTES + 1
    one_usage_line(over, "task add", f"invalid value for '--body': {size} bytes, over the limit of 64 KiB")
    big_file = fleet_dir.dir / "body.txt"
    big_file.write_bytes(b"y" * (MAX_TEXT_BYTES + 1))
    from_file = fleet_dir.run_process("task", "add", "big", "--body-file", str(big_file))
    assert from_file.code == 2 and from_file.out == "" and "Traceback" not in from_file.err
    refused = f"error: --body-file {big_file}: over the limit of 64 KiB; nothing was changed"
    assert from_file.err.splitlines()[0] == refused
    failed = fleet_dir.run_process("task", "fail", "1", "--reason", "r" * (MAX_TEXT_BYTES + 1))
    one_usage_line(failed, "task fail", f"invalid value for '--reason': {MAX_TEXT_BYTES + 1} bytes, over the limit")
    assert json.loads(fleet_dir.run_process("task", "list", "--json").out) == []
    at_limit = fleet_dir.run_process("task", "add", "just fits", "--body", "z" * MAX_TEXT_BYTES)
    assert at_limit.code == 0 and at_limit.out == "1\n", at_limit.err
    assert len(json.loads(fleet_dir.run_process("task", "show", "1", "--json").out)["body"]) == MAX_TEXT_BYTES
    help_text = " ".join(fleet_dir.run_process("task", "add", "--help").out.split())
    assert "a body at most 64 KiB" in help_text


@pytest.mark.timeout(60)
def test_a_message_is_bounded_to_ten_thousand_characters(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(AGENT)
    over = fleet_dir.run_process("send", "a", "m" * 10_001)
    assert over.code == 2 and over.out == "" and over.err == "error: TEXT: expected at most 10000 characters\n"
    assert json.loads(fleet_dir.run_process("inbox", "a", "--json").out) == []
    assert fleet_dir.run_process("send", "a", "m" * 10_000).code == 0
    assert "TEXT holds at most 10,000 characters" in " ".join(fleet_dir.run_process("send", "--help").out.split())


@pytest.mark.timeout(60)
def test_control_characters_are_shown_escaped_in_tables_and_exact_in_json(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(AGENT)
    title = f"deploy {ESC}now"
    assert fleet_dir.run_process("task", "add", title, "--body", f"line one\n{ESC}\n").code == 0
    assert fleet_dir.run_process("send", "a", f"hi {ESC}\x9b31m").code == 0
    shown = "deploy \\x1b[2J\\x1b]0;pwned\\x07now"
    outputs = {
        "task list": fleet_dir.run_process("task", "list").out,
        "task show": fleet_dir.run_process("task", "show", "1").out,
        "inbox": fleet_dir.run_process("inbox", "a").out,
        "events": fleet_dir.run_process("events").out,
    }
    for command, out in outputs.items():
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, (command, out)
    assert shown in outputs["task list"] and shown in outputs["task show"] and shown in outputs["events"]
    assert "\nline one\n\\x1b[2J\\x1b]0;pwned\\x07\n" in outputs["task show"]  # the body keeps its lines
    assert "hi \\x1b[2J\\x1b]0;pwned\\x07\\x9b31m" in outputs["inbox"]
    assert json.loads(fleet_dir.run_process("task", "list", "--json").out)[0]["title"] == title
    assert json.loads(fleet_dir.run_process("task", "show", "1", "--json").out)["body"] == f"line one\n{ESC}\n"
    assert json.loads(fleet_dir.run_process("inbox", "a", "--json").out)[0]["text"] == f"hi {ESC}\x9b31m"
    events = [json.loads(line) for line in fleet_dir.run_process("events", "--json").out.splitlines()]
    assert title in [e["reason"] for e in events]
