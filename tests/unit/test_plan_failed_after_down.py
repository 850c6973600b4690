"""A failed agent stays failed after `down` (desired stopped) until `reset`, as `up` sees it."""

from __future__ import annotations

from fleetctl.model import AgentState
from tests.unit.test_plan import NOW, agent, crashed, decide, record


def test_a_failed_agent_that_is_meant_to_be_stopped_still_shows_failed() -> None:
    failed = record(crashed(NOW - 10, NOW - 9), failed_reason="gave up after 3 respawns", desired="stopped")
    p = decide(agent(), failed)
    assert p.actions == ()
    assert p.views["a"].state is AgentState.FAILED and p.views["a"].reason == "gave up after 3 respawns"


def test_a_stopped_agent_that_had_not_failed_is_stopped() -> None:
    p = decide(agent(), record(crashed(NOW - 10, NOW - 9), desired="stopped"))
    assert p.actions == () and p.views["a"].state is AgentState.STOPPED
