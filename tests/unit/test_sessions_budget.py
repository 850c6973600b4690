"""Which budget a run is past: pure."""

from __future__ import annotations

from fleetctl.model import AgentSpec
from fleetctl.sessions.budget import over
from fleetctl.sessions.usage import Usage

SPEC = AgentSpec(name="a", command="x", max_cost_per_run=1.0, max_tokens_per_run=1000, max_cost_per_day=5.0)


def test_within_every_budget_is_nothing() -> None:
    assert over(SPEC, Usage(input=500, output=400, cost=0.9), Usage(cost=4.9)) is None


def test_each_budget_and_the_day_first() -> None:
    run = over(SPEC, Usage(input=10, cost=1.5), Usage(cost=1.5))
    assert run is not None and run.scope == "run" and "max_cost_per_run $1" in run.detail
    tokens = over(SPEC, Usage(input=900, output=200, cost=0.1), Usage(cost=0.1))
    assert tokens is not None and tokens.scope == "run" and "1100 tokens, over max_tokens_per_run 1000" in tokens.detail
    day = over(SPEC, Usage(input=2000, cost=2.0), Usage(cost=5.5))
    assert day is not None and day.scope == "day" and "over max_cost_per_day $5" in day.detail


def test_an_unknown_cost_never_trips_a_cost_budget() -> None:
    assert over(SPEC, Usage(input=10, cost=None), Usage(cost=None)) is None
