"""A hung API call: `working` whose screen shows nothing new but a spinner and a ticking timer is idle
(fleetctl.kinds.progress masks them; fleetctl.activity_plan counts from the last progress), with a
fixed clock."""

from __future__ import annotations

import re

from fleetctl import activity_plan
from fleetctl.activity_plan import Look
from fleetctl.kinds import builtin_kinds, progress
from fleetctl.model import (
    ActivityRow,
    AgentObservation,
    AgentRecord,
    Observation,
    PaneInfo,
)
from fleetctl.record import replace

CLAUDE = builtin_kinds()["claude"]
AIDER = builtin_kinds()["aider"]
NOW = 1_764_000_000.0
HEAD = "> fix the failing test\n\n⏺ Read(fleetctl/kinds/resets.py)\n\n"


def claude(status: str) -> str:
    return HEAD + status + "\n\n" + "─" * 40 + "\n❯ \n"


def look() -> Look:
    return Look(agent="a", kind=CLAUDE, pane_id="%1", pane_activity=NOW - 1, child_cpu=None)


def working(progressed: float, mark: str = "", since: float = NOW - 300) -> ActivityRow:
    return ActivityRow(
        agent="a", activity="working", since=since, pane_id="%1", looked=NOW - 5, progress=mark, progressed=progressed
    )


def test_a_spinner_and_its_timer_are_no_progress() -> None:
    frames = [
        claude("✻ Sautéing… (12s · ↑ 1.2k tokens · esc to interrupt)"),
        claude("✶ Sautéing… (13s · ↑ 1.2k tokens · esc to interrupt)"),
        claude("✢ Pondering… (1m 4s · ↑ 1.2k tokens · esc to interrupt)"),
    ]
    assert len({progress.digest(CLAUDE, f) for f in frames}) == 1
    aider = [
        "> fix it\n\n░█        Waiting for openai/gpt-4o-mini\n",
        "> fix it\n\n   █░     Waiting for openai/gpt-4o-mini\n",
    ]
    assert progress.digest(AIDER, aider[0]) == progress.digest(AIDER, aider[1])


def test_new_text_or_more_tokens_is_progress() -> None:
    before = claude("✻ Sautéing… (12s · ↑ 1.2k tokens · esc to interrupt)")
    assert progress.digest(CLAUDE, before) != progress.digest(
        CLAUDE, claude("✻ Sautéing… (12s · ↑ 1.4k tokens · esc to interrupt)")
    )
    assert progress.digest(CLAUDE, before) != progress.digest(CLAUDE, "⏺ Update(fleetctl/kinds/resets.py)\n" + before)


def test_a_kinds_progress_ignore_masks_more() -> None:
    kind = replace(CLAUDE, progress_ignore=(re.compile(r"request id \w+"),))
    one, two = claude("request id abc1 · esc to interrupt"), claude("request id zz9 · esc to interrupt")
    assert progress.digest(kind, one) == progress.digest(kind, two)
    assert progress.digest(CLAUDE, one) != progress.digest(CLAUDE, two)


def test_a_redrawn_spinner_keeps_the_last_progress_time() -> None:
    first = claude("✻ Sautéing… (12s · esc to interrupt)")
    mark = progress.digest(CLAUDE, first)
    before = {"a": working(progressed=NOW - 100, mark=mark)}
    redrawn = activity_plan.read([look()], before, {"%1": claude("✽ Sautéing… (112s · esc to interrupt)")}, NOW)
    assert reading_row(redrawn).activity == "working" and reading_row(redrawn).progressed == NOW - 100
    moved = activity_plan.read([look()], before, {"%1": "⏺ Bash(pytest)\n" + first}, NOW)
    assert reading_row(moved).progressed == NOW


def reading_row(reading: activity_plan.Reading) -> ActivityRow:
    assert len(reading.rows) == 1
    return reading.rows[0]


def observed() -> tuple[Observation, dict[str, AgentRecord]]:
    pane = PaneInfo(window_id="@1", window_name="a", pane_id="%1", pid=10, dead=False, dead_status=None, activity=NOW)
    agents = {"a": AgentObservation(pane=pane, alive=True)}
    return Observation(time=NOW, server_running=True, agents=agents), {"a": AgentRecord(name="a", last_activity=NOW)}


def test_idle_time_of_a_working_agent_counts_from_its_last_progress() -> None:
    obs, records = observed()
    _, judged = activity_plan.idle_clock(obs, records, {"a": working(progressed=NOW - 100)}, NOW)
    assert judged["a"].last_activity == NOW - 100
    # its transcript was written since: that is progress
    _, judged = activity_plan.idle_clock(obs, records, {"a": working(progressed=NOW - 100)}, NOW, {"a": NOW - 7})
    assert judged["a"].last_activity == NOW - 7
    # waiting at its prompt: never idle
    waiting = replace(working(progressed=NOW - 100), activity="waiting")
    _, judged = activity_plan.idle_clock(obs, records, {"a": waiting}, NOW)
    assert judged["a"].last_activity == NOW


def test_a_stall_is_told_by_what_the_agent_was_doing() -> None:
    detail = activity_plan.stall_detail(working(progressed=NOW - 100), NOW - 100, NOW, 60)
    assert detail == "stalled: working with no progress on screen or in its transcript for 1m40s (idle_timeout 1m00s)"
