"""retry_timeout: a client retrying an API error for too long is handled as the error it retries
(fleetctl.activity_plan.retrying_too_long, retried_error), with recorded screens and a fixed clock."""

from __future__ import annotations

from pathlib import Path

from fleetctl.activity_plan import retried_error, retrying_too_long
from fleetctl.kinds import Outcome, builtin_kinds
from fleetctl.model import ActivityRow

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
KINDS = builtin_kinds()
NOW = 1_764_000_000.0
PARK = 900.0


def screen(kind: str, name: str) -> str:
    return (SCREENS / kind / f"{name}.txt").read_text()


def retrying(since: float, detail: str = "API error · Retrying in 19s · attempt 6/10") -> ActivityRow:
    return ActivityRow(agent="a", activity="retrying", detail=detail, since=since, pane_id="%1")


def test_only_a_retry_loop_past_its_timeout_is_due() -> None:
    assert retrying_too_long(retrying(NOW - 600), 600.0, NOW)
    assert not retrying_too_long(retrying(NOW - 599), 600.0, NOW)
    assert not retrying_too_long(retrying(NOW - 10_000), None, NOW)  # retry_timeout = "off"
    waiting = ActivityRow(agent="a", activity="waiting", since=NOW - 10_000)
    assert not retrying_too_long(waiting, 600.0, NOW)
    assert not retrying_too_long(None, 600.0, NOW)


def test_a_retried_rate_limit_parks_until_the_reset_the_screen_names() -> None:
    found = retried_error("a", KINDS["aider"], screen("aider", "retrying"), retrying(NOW - 700), NOW, PARK)
    assert found.outcome is Outcome.RATE_LIMITED
    assert found.reset_at is not None and NOW < found.reset_at <= NOW + 6  # "Please try again in 5s"


def test_a_retried_limit_without_a_reset_time_parks_for_rate_limit_park() -> None:
    text = screen("claude", "retrying").replace("> fix the failing test", "API Error: Request rejected (429)")
    found = retried_error("a", KINDS["claude"], text, retrying(NOW - 700), NOW, PARK)
    assert (found.outcome, found.reset_at) == (Outcome.RATE_LIMITED, NOW + PARK)


def test_a_retried_auth_error_is_auth() -> None:
    text = screen("claude", "retrying").replace("> fix the failing test", "API Error: 401 Invalid bearer token")
    found = retried_error("a", KINDS["claude"], text, retrying(NOW - 700), NOW, PARK)
    assert found.outcome is Outcome.AUTH and "401" in found.detail


def test_any_other_retried_error_is_a_crash_named_by_its_retry_line() -> None:
    found = retried_error("a", KINDS["claude"], screen("claude", "retrying"), retrying(NOW - 700), NOW, PARK)
    assert (found.outcome, found.detail) == (Outcome.CRASHED, "API error · Retrying in 19s · attempt 6/10")


def test_the_users_own_auth_pattern_names_a_retried_error() -> None:
    text = screen("claude", "retrying").replace("> fix the failing test", "proxy says: badge expired")
    found = retried_error("a", KINDS["claude"], text, retrying(NOW - 700), NOW, PARK, {"auth": ["badge expired"]})
    assert found.outcome is Outcome.AUTH
