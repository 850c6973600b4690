"""Headless runs: the last lines decide, even after exit 0 (aider exits 0 after a 401 and a 429)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fleetctl.kinds import Outcome, builtin_kinds, classify_output

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
T = NOW.timestamp()

AIDER_429 = """\
litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for gpt-4o-mini in organization
org-fake on tokens per min (TPM): Limit 200000, Used 199000, Requested 2400. Please try again in 5s.
The API provider has rate limited you. Try again later or check your quotas.
Retrying in 0.2 seconds...
"""
AIDER_401 = """\
litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided: sk-fake.
The API provider is not able to authenticate you. Check your API key.
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("kind", "lines", "code", "outcome", "reset_at"),
    [
        ("aider", AIDER_429, 0, Outcome.RATE_LIMITED, T + 5),
        (
            "aider",
            "You exceeded your current quota, please check your plan and billing details.",
            0,
            Outcome.RATE_LIMITED,
            None,
        ),
        ("aider", AIDER_401, 0, Outcome.AUTH, None),
        ("aider", "Tokens: 1.2k sent, 300 received. Cost: $0.00 message, $0.00 session.", 0, Outcome.CLEAN, None),
        (
            "aider",
            "Your estimated chat context of 131,072 tokens exceeds the 128,000 token limit\n"
            "litellm.ContextWindowExceededError: context window exceeded",
            0,
            Outcome.CONTEXT_FULL,
            None,
        ),
        (
            "claude",
            "API Error: Request rejected (429) · This request would exceed the rate limit for your "
            "organization.\nYou will regain access on 2026-12-03 at 00:00 UTC.",
            1,
            Outcome.RATE_LIMITED,
            at("2026-12-03T00:00+00:00"),
        ),
        ("claude", "Invalid API key · Fix external API key", 1, Outcome.AUTH, None),
        ("claude", 'Failed to authenticate. API Error: 403 {"error":"forbidden"}', 1, Outcome.AUTH, None),
        ("claude", "API Error: 500 Internal server error", 1, Outcome.CRASHED, None),
        ("claude", "Prompt is too long", 1, Outcome.CONTEXT_FULL, None),
        (
            "codex",
            "ERROR: You’ve hit your usage limit. Upgrade to Pro or try again at 8:00 PM.",
            1,
            Outcome.RATE_LIMITED,
            at("2026-12-01T20:00+01:00"),
        ),
        (
            "codex",
            "ERROR: Reconnecting... 1/5\nERROR: exceeded retry limit, last status: 429 Too Many Requests",
            1,
            Outcome.RATE_LIMITED,
            None,
        ),
        (
            "codex",
            "ERROR: unexpected status 401 Unauthorized: Incorrect API key provided: sk-fake",
            1,
            Outcome.AUTH,
            None,
        ),
        ("codex", "done\ntokens used\n1234", 0, Outcome.CLEAN, None),
        (
            "gemini",
            "[API Error: You have exhausted your capacity on this model. Your quota will reset after 1h.]",
            1,
            Outcome.RATE_LIMITED,
            T + 3600,
        ),
        (
            "generic",
            "Error: Error code: 429 - Rate limit reached. Please try again in 5s.",
            1,
            Outcome.RATE_LIMITED,
            T + 5,
        ),
        ("generic", "Error: Error code: 401 - Incorrect API key provided", 1, Outcome.AUTH, None),
        ("generic", "Traceback (most recent call last):\nKeyError: 'x'", 1, Outcome.CRASHED, None),
        ("generic", "", None, Outcome.CRASHED, None),
    ],
)
def test_output_classes(kind: str, lines: str, code: int | None, outcome: Outcome, reset_at: float | None) -> None:
    verdict = classify_output(builtin_kinds()[kind], lines, code, now=NOW, local_tz=BERLIN)
    assert verdict.outcome is outcome
    assert verdict.reset_at == (pytest.approx(reset_at) if reset_at is not None else None)


def test_the_detail_is_the_line_that_decided() -> None:
    verdict = classify_output(builtin_kinds()["aider"], AIDER_401, 0, now=NOW, local_tz=BERLIN)
    assert verdict.detail == "The API provider is not able to authenticate you. Check your API key."
    crashed = classify_output(builtin_kinds()["generic"], "boom", 3, now=NOW, local_tz=BERLIN)
    assert crashed.detail == "exited with code 3"


def test_user_failure_patterns_count_after_exit_0() -> None:
    lines = "session expired: please sign in again"
    kind = builtin_kinds()["aider"]
    assert classify_output(kind, lines, 0, now=NOW, local_tz=BERLIN).outcome is Outcome.CLEAN
    verdict = classify_output(kind, lines, 0, user_patterns={"auth": ["SESSION EXPIRED"]}, now=NOW, local_tz=BERLIN)
    assert verdict.outcome is Outcome.AUTH


def test_the_latest_failure_line_wins() -> None:
    lines = "Invalid API key\n(key replaced)\nAPI Error: Request rejected (429) · would exceed the rate limit"
    verdict = classify_output(builtin_kinds()["claude"], lines, 1, now=NOW, local_tz=BERLIN)
    assert verdict.outcome is Outcome.RATE_LIMITED


def test_lines_may_be_a_list() -> None:
    verdict = classify_output(builtin_kinds()["aider"], AIDER_401.splitlines(), 0, now=NOW, local_tz=BERLIN)
    assert verdict.outcome is Outcome.AUTH
