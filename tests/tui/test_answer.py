"""The TUI's answer key: the selected agent's question answered with its kind's keys, as
`fleetctl answer` does, against a real pane on a private tmux socket; the palette lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList

from fleetctl.tui.app import make_app
from fleetctl.tui.screens.dialogs import PromptScreen
from tests.conftest import FleetHarness, wait_for
from tests.integration.test_activity import ASKER, SCREENS
from tests.tui.conftest import run_async, until
from tests.tui.test_pilot import messages, observed, remember_notifications

pytestmark = pytest.mark.tmux


@pytest.fixture
def asking(fleet_dir: FleetHarness, tmp_path: Path) -> tuple[FleetHarness, Path]:
    script, got = tmp_path / "asker.py", tmp_path / "got"
    script.write_text(ASKER)
    fleet_dir.write(f"""
    [agents.coder]
    command = "python3 {script} {SCREENS / "claude" / "asking.txt"} {SCREENS / "claude" / "waiting.txt"} {got}"
    kind = "claude"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0

    def read() -> bool:
        fleet_dir.run("reconcile")  # the supervision pass reads the screen; the TUI shows what it stored
        return fleet_dir.status()["coder"]["activity"] == "asking"

    wait_for(read, what="coder asking", explain=fleet_dir.explain)
    return fleet_dir, got


@run_async
async def test_y_answers_the_selected_agents_question_with_its_kinds_key(asking: tuple[FleetHarness, Path]) -> None:
    fleet, got = asking
    app = remember_notifications(make_app(fleet.fleet, refresh=3600))
    async with app.run_test(size=(120, 30)) as pilot:
        await observed(pilot, app, "coder", lambda r: r.activity == "asking", "coder asking")
        await pilot.press("y")
        assert isinstance(app.screen, PromptScreen)
        title = app.screen.title_text
        assert title.startswith("coder asks: Do you want to proceed?"), title
        await pilot.press(*"yes", "enter")
        await until(pilot, lambda: got.exists() and got.read_text() == "1", 10, "the approve key in the pane")
        await until(pilot, lambda: "coder: typed 1" in messages(app), 10, "the notification")
    answered = [e for e in fleet.fleet().store.events(agent="coder") if e.kind == "answered"]
    assert len(answered) == 1 and answered[0].data["keys"] == ["1"]


@run_async
async def test_the_palette_lists_the_answer_key(asking: tuple[FleetHarness, Path]) -> None:
    fleet, got = asking
    app = remember_notifications(make_app(fleet.fleet, refresh=3600))
    async with app.run_test(size=(120, 30)) as pilot:
        await observed(pilot, app, "coder", lambda r: r.activity == "asking", "coder asking")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "the command palette")
        await pilot.press(*"answer")
        results = app.screen.query_one(OptionList)
        await until(
            pilot,
            lambda: results.option_count and "Answer question (y)" in str(results.get_option_at_index(0).prompt),
            5,
            "'Answer question (y)' first among the results",
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen), 5, "the answer prompt")
        await pilot.press(*"no", "enter")
        await until(pilot, lambda: got.exists() and got.read_text() == "\x1b", 10, "the decline key in the pane")
