"""Runs that ended by themselves, classed by exit status, last lines and kind (fleetctl.exit_class),
with output recorded from the real clients."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fleetctl import spec_keys
from fleetctl.exit_class import classify_exit
from fleetctl.kinds import builtin_kinds
from fleetctl.model import AgentSpec, FailureClass

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"
KINDS = builtin_kinds()
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()


def output(client: str, case: str) -> str:
    """What the client printed (the recording's header lines left out)."""
    lines = (RECORDED / client / f"{case}.txt").read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("# "))


def agent(kind: str = "generic", **patterns: tuple[str, ...]) -> AgentSpec:
    return AgentSpec(
        name="a",
        command="x",
        kind=kind,
        rate_limit_patterns=spec_keys.DEFAULT_RATE_LIMIT_PATTERNS + patterns.get("rate_limit", ()),
        auth_patterns=spec_keys.DEFAULT_AUTH_PATTERNS + patterns.get("auth", ()),
    )


def test_aider_exit_0_after_a_401_is_auth() -> None:
    cls, reason, park = classify_exit(
        agent("aider"), KINDS["aider"], 0, None, output("aider", "headless-auth-401"), NOW
    )
    assert cls is FailureClass.AUTH and reason.startswith("auth: ") and park is None


def test_aider_exit_0_after_a_429_parks_for_the_time_it_names() -> None:
    text = output("aider", "headless-rate-limit-429")
    cls, _, park = classify_exit(agent("aider"), KINDS["aider"], 0, None, text, NOW)
    assert cls is FailureClass.RATE_LIMITED and park is not None and NOW < park <= NOW + 60  # not the 15 min default


def test_a_clean_answer_stays_clean() -> None:
    text = output("aider", "headless-answer")
    assert classify_exit(agent("aider"), KINDS["aider"], 0, None, text, NOW)[0] is FailureClass.EXITED


def test_exit_0_obeys_the_users_failure_patterns_but_not_the_generic_defaults() -> None:
    text = "deploy finished\nremaining quota: 12\nsession: token expired, log in again\n"
    generic = KINDS["generic"]
    assert classify_exit(agent(), generic, 0, None, text, NOW)[0] is FailureClass.EXITED
    mine = agent(auth=("log in again",))
    assert classify_exit(mine, generic, 0, None, text, NOW)[0] is FailureClass.AUTH


def test_claude_usage_limit_parks_until_the_day_it_names() -> None:
    text = output("claude", "headless-usage-limit")
    cls, _, park = classify_exit(agent("claude"), KINDS["claude"], 1, None, text, NOW)
    assert cls is FailureClass.RATE_LIMITED
    assert park == datetime(2026, 12, 24, tzinfo=UTC).timestamp()


def test_a_generic_rate_limit_reads_try_again_in() -> None:
    text = "Error: Error code: 429 - Rate limit reached. Please try again in 5s.\n"
    cls, _, park = classify_exit(agent(), KINDS["generic"], 1, None, text, NOW)
    assert cls is FailureClass.RATE_LIMITED and park == NOW + 5
