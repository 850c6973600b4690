"""Snapshots of the main screen, the detail pane and the tasks view, from a fixed fake fleet."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from fleetctl.tui.app import FleetApp, make_app
from tests.tui.conftest import settle
from tests.tui.fakes import FIXED_NOW, demo_board, demo_fleet

pytestmark = pytest.mark.usefixtures("utc")


def demo_app() -> FleetApp:
    fleet, board = demo_fleet(), demo_board()
    return make_app(lambda: fleet, refresh=3600, clock=lambda: FIXED_NOW, task_board=lambda _f: board)


def test_main_screen_80x24(snap_compare: object) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=settle)  # type: ignore[operator]


def test_main_screen_120x36(snap_compare: object) -> None:
    assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=settle)  # type: ignore[operator]


def test_detail_of_a_failed_agent(snap_compare: object) -> None:
    async def select_failed(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("end")  # worker-2 (failed) sorts last by name
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=select_failed)  # type: ignore[operator]


def test_tasks_view(snap_compare: object) -> None:
    async def show_tasks(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=show_tasks)  # type: ignore[operator]
