"""What the screen shows, from a fixed fake fleet: columns, header, close-up, events, escapes.

Each test reads the screen as text (or the table's drawn line), as a person would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetctl.model import AgentState, Event
from fleetctl.record import replace
from fleetctl.screentext import ScreenText, render
from fleetctl.tui.app import FleetApp, make_app
from fleetctl.tui.screens.log import LogScreen
from fleetctl.tui.widgets.agent_table import AgentTable
from fleetctl.tui.widgets.line_view import LineView
from tests.tui.conftest import run_async, screen_text, settle, until
from tests.tui.fakes import FIXED_NOW, FakeFleet, demo_board, demo_fleet, demo_rows, status

pytestmark = pytest.mark.usefixtures("utc")


def demo_app(fleet: FakeFleet | None = None) -> FleetApp:
    fleet, board = fleet or demo_fleet(), demo_board()
    return make_app(lambda: fleet, refresh=3600, clock=lambda: FIXED_NOW, task_board=lambda _f: board)


def table_line(app: FleetApp, name: str) -> Any:
    table = app.fleet_screen.query_one(AgentTable)
    return table.render_line(table.order.index(name) + 1)


@run_async
async def test_columns_say_one_thing_each_and_the_header_counts_every_state() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        header = " ".join(text.splitlines()[:2])
        for count in ("2 running", "1 starting", "1 backoff", "1 parked", "1 stalled", "1 failed", "1 stopped"):
            assert count in header
        columns = text.split("NAME▼", 1)[1].splitlines()[0].split()
        assert columns == ["STATE", "ACTIVITY", "PID", "UP", "RESP", "OUT", "NEXT", "TASK"]
        assert "BREAKER" not in text and "closed" not in text.split("──")[0]
        lines = {
            line.split()[0]: line
            for line in text.splitlines()
            if line.strip() and line.split()[0] in {"worker-1", "worker-2", "reviewer", "api"}
        }
        assert "retry 8s" in lines["worker-1"] and "2/5" in lines["worker-1"]
        assert "park 14m00s" in lines["reviewer"]
        assert "5/5" in lines["worker-2"] and lines["api"].split()[3] == "4101"


@run_async
async def test_the_cursor_row_is_drawn_focused_once_focus_returns() -> None:
    """The cause of the snapshot flake: a row drawn while the table had no focus was reused."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert any(seg.style and seg.style.bold for seg in table_line(app, "api"))
        await pilot.press("slash")  # the filter box takes focus: the cursor row is drawn dim
        await pilot.pause()
        assert not any(seg.style and seg.style.bold for seg in table_line(app, "api"))
        await pilot.press("escape")  # focus back on the table, no cell changed
        await pilot.pause()
        assert app.focused is app.fleet_screen.query_one(AgentTable)
        assert any(seg.style and seg.style.bold for seg in table_line(app, "api"))


@run_async
async def test_detail_says_what_is_true() -> None:
    rows = [replace(r, port=None) if r.name == "web" else r for r in demo_rows()]
    usage = {"input_tokens": 1200, "output_tokens": 340, "cost_usd": 0.0415}
    rows.append(status("coder", session="33bd1813", session_age_s=42.0, usage=usage))
    rows.append(status("zed", AgentState.FAILED, window="@9", last_exit="code 1", reason="gave up"))
    events = [
        Event(time=FIXED_NOW - 100 + i, kind="spawned", agent="zed", reason=f"try {i}", id=100 + i) for i in range(10)
    ]
    fleet = FakeFleet(rows, events, {"@9": "zed starting\nboom\n\nPane is dead (status 0, Tue Nov 14 22:13:00 2023)"})
    app = demo_app(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.fleet_screen.query_one(AgentTable)
        table.move_to(table.order.index("web"))
        await settle(pilot)
        assert "why: running: window and pid verified" in screen_text(app)
        table.move_to(table.order.index("coder"))
        await settle(pilot)
        assert "session 33bd1813 (42s old)  run 1200 in, 340 out, $0.04" in screen_text(app)
        await pilot.press("end")
        await settle(pilot)
        text = screen_text(app)
        assert "Pane is dead (last exit code 1)" in text and "status 0" not in text
        assert "try 9" in text and "try 6" in text and "try 5" not in text  # the newest events


@run_async
async def test_events_view_keeps_the_agent_and_cuts_the_reason_at_80_columns() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        line = next(line for line in screen_text(app).splitlines() if "disk full" in line)
        assert line.split()[1:3] == ["indexer", "alert"]
        assert line.rstrip().endswith("…") and len(line.rstrip()) <= 80


@run_async
async def test_control_characters_are_shown_escaped() -> None:
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert "said \\x1b[31mERROR\\x1b[0m: disk full" in screen_text(app)
        await pilot.press("2")
        await settle(pilot)
        assert "Bump dependencies \\x1b[2J\\rnow" in screen_text(app)


def test_screen_text_renders_what_a_terminal_shows() -> None:
    raw = b"\x1b[31mred\x1b[0m ready\r\nspin |\rspin /\rspin done\r\n\x1b[<u? for shortcuts\x1bP+q\x1b\\\r\n"
    assert render(raw) == ["red ready", "spin done", "? for shortcuts"]
    screen = ScreenText(columns=20, rows=3)
    for i in range(6):  # more lines than the screen has: the first ones go to the scrollback
        screen.feed(f"line {i}\n".encode()[:4])
        screen.feed(f"line {i}\n".encode()[4:])
    assert screen.lines() == [f"line {i}" for i in range(6)]


def log_fleet(tmp_path: Path, lines: int) -> FakeFleet:
    fleet = demo_fleet()
    fleet.logs_dir = tmp_path / "logs"
    (fleet.logs_dir / "api").mkdir(parents=True)
    body = b"".join(b"\x1b[32mGET\x1b[0m /api/items?page=%d 200\r\n" % n for n in range(1, lines + 1))
    (fleet.logs_dir / "api" / "run1.log").write_bytes(b"listening on 127.0.0.1:8001\r\n" + body)
    return fleet


@run_async
async def test_log_view_follows_until_scrolled_up(tmp_path: Path) -> None:
    fleet = log_fleet(tmp_path, 60)
    app = demo_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        assert isinstance(app.screen, LogScreen)
        view = app.screen.query_one(LineView)
        await until(pilot, lambda: len(view.lines) == 61, 10, "the log's lines")
        assert view.lines[-1].plain == "GET /api/items?page=60 200" and view.following
        await until(pilot, lambda: "page=60 200" in screen_text(app), 5, "the last line in view")
        await pilot.press("up")
        assert not view.following
        with (fleet.logs_dir / "api" / "run1.log").open("ab") as log:
            log.write(b"GET /api/items?page=61 200\r\n")
        await until(pilot, lambda: len(view.lines) == 62, 10, "the new line")
        assert not view.following, "scrolled up, the view stays where the person put it"
        assert "scrolled up" in screen_text(app).splitlines()[0]
        await pilot.press("f")
        assert view.following
        await until(pilot, lambda: "page=61 200" in screen_text(app), 5, "the new line in view")
