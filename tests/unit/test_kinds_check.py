"""A kind's one-shot check: the command line doctor runs for an agent or a pool, the verdict its output
gives (with a fixed clock), and the `check` table of a kind file or of fleet.toml."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetctl.errors import ConfigError
from fleetctl.kinds import builtin_kinds, load_kinds
from fleetctl.kinds.check import check_command, judge

NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
KINDS = builtin_kinds()


def test_the_check_is_the_agents_command_with_the_kinds_arguments() -> None:
    line, _ = check_command("claude --model opus", KINDS["claude"])
    assert line == "claude --model opus -p 'Reply with the single word: ok'"
    line, _ = check_command("codex -c x=1", KINDS["codex"])
    assert line == "codex -c x=1 exec --skip-git-repo-check 'Reply with the single word: ok'"


def test_a_pools_command_loses_its_task_placeholder_and_the_option_before_it() -> None:
    line, _ = check_command("aider --model m --message-file {task_file} --yes-always", KINDS["aider"])
    assert line is not None and line.startswith("aider --model m --message 'Reply with")
    line, _ = check_command("codex -c a=1 exec --full-auto {task_file}", KINDS["codex"])
    assert line == "codex -c a=1 exec --skip-git-repo-check 'Reply with the single word: ok'"


def test_no_check_for_generic_kinds_or_shell_lists() -> None:
    line, why = check_command("claude", KINDS["generic"])
    assert line is None and "check.args" in why
    line, why = check_command("cd /w && claude", KINDS["claude"])
    assert line is None and "simple command" in why


def test_verdicts() -> None:
    codex = KINDS["codex"]
    auth = judge(codex, ["ERROR: unexpected status 401 Unauthorized: Incorrect API key"], 1, 7.0, False, now=NOW)
    assert not auth.ok and auth.detail == "auth: ERROR: unexpected status 401 Unauthorized: Incorrect API key"
    limited = judge(
        codex, ["ERROR: You’ve hit your usage limit. … try again at 8:18 PM."], 1, 1.0, False, now=NOW, local_tz=UTC
    )
    assert not limited.ok and limited.detail.startswith("limited until 2026-12-01 20:18 UTC: ERROR: You’ve hit")
    # aider exits 0 after a rejected key: the output decides
    aider = judge(KINDS["aider"], ["The API provider is not able to authenticate you."], 0, 2.0, False, now=NOW)
    assert not aider.ok and aider.detail.startswith("auth: ")
    # still retrying a 429 at the timeout: the limit it already printed is the verdict
    retrying = judge(
        KINDS["aider"],
        ["litellm.RateLimitError: Please try again in 20m.", "Retrying in 0.5 seconds..."],
        None,
        60,
        True,
        now=NOW,
        local_tz=UTC,
    )
    assert retrying.detail.startswith("limited until 2026-12-01 13:20 UTC")
    silent = judge(codex, ["Reading additional input from stdin..."], None, 60, True, now=NOW)
    assert (
        not silent.ok and silent.detail == "check failed: no answer within 60s: Reading additional input from stdin..."
    )
    crashed = judge(codex, ["boom"], 2, 0.2, False, now=NOW)
    assert not crashed.ok and crashed.detail == "check failed: exited with code 2: boom"
    ok = judge(codex, ["ok", "tokens used", "17"], 0, 1.26, False, now=NOW)
    assert ok.ok and ok.detail == "ok: answered in 1.3s"


def test_fleet_toml_amends_a_kinds_check() -> None:
    kinds = load_kinds({"claude": {"check": {"timeout": 5, "env": {"EXTRA": "1"}}}, "mine": {"check": {"args": ["x"]}}})
    assert kinds["claude"].check.timeout == 5.0
    assert dict(kinds["claude"].check.env) == {"EXTRA": "1", "CLAUDE_CODE_MAX_RETRIES": "1"}
    assert kinds["claude"].check.args == KINDS["claude"].check.args
    assert kinds["mine"].check.args == ("x",)
    assert load_kinds({"codex": {"check": {"args": []}}})["codex"].check.args == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"timeout": 0}, "kinds.claude.check.timeout: expected a number of seconds from 1 to 3600, got 0"),
        ({"args": "-p"}, "kinds.claude.check.args: expected a list of arguments"),
        ({"env": {"A": 1}}, "kinds.claude.check.env: expected a table of strings"),
        ({"arg": []}, "kinds.claude.check.arg: unknown key; expected one of: args, timeout, env"),
    ],
)
def test_bad_check_tables_are_one_line(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_kinds({"claude": {"check": table}})
    assert message in str(caught.value)
