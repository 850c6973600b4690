"""Which panes a pass captures and what it reads from them (fleetctl.activity_plan), with recorded screens."""

from __future__ import annotations

from pathlib import Path

from fleetctl import activity_plan
from fleetctl.activity_plan import Look
from fleetctl.kinds import builtin_kinds
from fleetctl.model import ActivityRow

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
CLAUDE = builtin_kinds()["claude"]
NOW = 1_764_000_000.0  # 2025-11-24, before the recorded resets


def screen(kind: str, name: str) -> str:
    return (SCREENS / kind / f"{name}.txt").read_text()


def look(agent: str = "a", pane_activity: float = NOW - 30, child_cpu: float | None = 1.0) -> Look:
    return Look(agent=agent, kind=CLAUDE, pane_id=f"%{agent}", pane_activity=pane_activity, child_cpu=child_cpu)


def row(agent: str = "a", activity: str = "waiting", looked: float = NOW - 10, **kw: object) -> ActivityRow:
    values: dict[str, object] = {"pane_id": f"%{agent}", "pane_activity": NOW - 30, "tree_cpu": 1.0} | kw
    return ActivityRow(agent=agent, activity=activity, since=NOW - 100, looked=looked, **values)  # type: ignore[arg-type]


def test_a_new_pane_is_captured_and_an_unchanged_one_is_not() -> None:
    assert activity_plan.to_capture([look()], {}, NOW) == [look()]
    assert activity_plan.to_capture([look()], {"a": row()}, NOW) == []  # an idle fleet captures nothing


def test_output_since_the_last_look_or_in_its_second_means_changed() -> None:
    assert activity_plan.to_capture([look(pane_activity=NOW - 5)], {"a": row()}, NOW)
    # tmux counts whole seconds: output in the second of the last look may have come after it
    assert activity_plan.to_capture([look(pane_activity=NOW - 30)], {"a": row(looked=NOW - 29.5)}, NOW)


def test_a_new_pane_of_the_same_agent_is_captured() -> None:
    assert activity_plan.to_capture([look()], {"a": row(pane_id="%old")}, NOW)


def test_a_passed_reset_time_is_looked_at_again() -> None:
    limited = row(activity="limited", reset_at=NOW - 1)
    assert activity_plan.to_capture([look()], {"a": limited}, NOW)
    assert not activity_plan.to_capture([look()], {"a": row(activity="limited", reset_at=NOW + 60)}, NOW)


def test_the_budget_takes_the_longest_unlooked_first() -> None:
    looks = [look(name, pane_activity=NOW - 1) for name in "abc"]
    before = {"a": row("a", looked=NOW - 5), "b": row("b", looked=NOW - 50), "c": row("c", looked=NOW - 20)}
    assert [x.agent for x in activity_plan.to_capture(looks, before, NOW, budget=2)] == ["b", "c"]


def test_screens_are_read_by_the_kind_and_each_change_is_reported_once() -> None:
    looks = [look("a"), look("b")]
    before = {"a": row("a", activity="waiting"), "b": row("b", activity="waiting")}
    screens = {"%a": screen("claude", "asking"), "%b": screen("claude", "waiting")}
    reading = activity_plan.read(looks, before, screens, NOW)
    rows = {r.agent: r for r in reading.rows}
    assert rows["a"].activity == "asking" and rows["a"].detail == "Do you want to proceed?"
    assert rows["a"].since == NOW and rows["a"].looked == NOW
    assert rows["b"].activity == "waiting" and rows["b"].since == NOW - 100  # unchanged: since kept
    assert [(c.agent, c.before, c.after.activity.value) for c in reading.changes] == [("a", "waiting", "asking")]


def test_a_limit_keeps_its_reset_time() -> None:
    reading = activity_plan.read([look()], {}, {"%a": screen("claude", "limited.regain")}, NOW)
    assert reading.rows[0].activity == "limited" and reading.rows[0].reset_at is not None


def test_busy_children_mean_working_without_a_capture() -> None:
    busy = look(child_cpu=3.0)  # the children used 2 s of CPU since the last pass: a test run
    before = {"a": row(activity="waiting", pane_activity=NOW - 1)}
    assert activity_plan.to_capture([busy], before, NOW) == []
    reading = activity_plan.read([busy], before, {}, NOW)
    assert reading.rows[0].activity == "working" and reading.rows[0].evidence == "tree"
    # the children went quiet: the screen decides again
    quiet = look(child_cpu=3.0)
    assert activity_plan.to_capture([quiet], {"a": reading.rows[0]}, NOW + 5)


def test_the_tui_agent_table_shows_the_activity() -> None:
    from fleetctl.model import AgentState
    from fleetctl.runtime.status import AgentStatus
    from fleetctl.tui.widgets.agent_table import COLUMN_KEYS, row_cells

    status = AgentStatus(
        name="coder",
        state=AgentState.RUNNING,
        pid=1,
        port=None,
        window="@1",
        uptime_s=1.0,
        respawns=0,
        max_respawns=5,
        last_exit=None,
        last_output_s=None,
        reason="",
        next_retry_s=None,
        failure_class=None,
        activity="asking",
    )
    assert row_cells(status)[COLUMN_KEYS.index("activity")] == "asking"
