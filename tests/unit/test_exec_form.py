"""Which agent commands the wrapper's shell may `exec` (becoming the agent) and which keep it."""

from __future__ import annotations

import pytest

from fleetctl.runtime.launcher import exec_form


@pytest.mark.parametrize(
    "command",
    [
        "sleep 100",
        "python3 -m http.server 8000 --bind 127.0.0.1",
        "claude --dangerously-skip-permissions",
        "sleep 100 # a comment",
        "sh -c 'exit 4'",
        "/usr/bin/env FOO=1 agent",
    ],
)
def test_one_plain_command_is_execed(command: str) -> None:
    assert exec_form(command) == f"exec {command}"


@pytest.mark.parametrize(
    "command",
    [
        "cd work && agent",  # a list: the shell must stay to run the rest
        "agent; echo done",
        "agent | tee out",
        "agent > out.log",
        "agent &",
        "FOO=1 agent",  # an assignment is not a program
        "exit 4",  # builtins and reserved words: `exec` would look for a program of that name
        "echo hi",
        "if true; then agent; fi",
        "{ agent; }",
        "agent $(cat args)",
        "agent `cat args`",
        "python3 -c \"print('(')\"",  # quotes are not parsed: any parenthesis keeps the shell
        "'my agent' --flag",
        "$AGENT --flag",
        "agent \\\n --flag",
        "",
        "   ",
    ],
)
def test_anything_else_is_left_as_written(command: str) -> None:
    assert exec_form(command) == command
