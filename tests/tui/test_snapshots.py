"""Snapshots of each view from a fixed fake fleet, at 80x24 and 120x40."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from fleetctl.tui.app import FleetApp, make_app
from fleetctl.tui.widgets.line_view import LineView
from tests.tui.conftest import settle, until
from tests.tui.fakes import FIXED_NOW, FakeFleet, demo_board, demo_fleet

pytestmark = pytest.mark.usefixtures("utc")
SIZES = [(80, 24), (120, 40)]


def demo_app(fleet: FakeFleet | None = None) -> FleetApp:
    fleet, board = fleet or demo_fleet(), demo_board()
    return make_app(lambda: fleet, refresh=3600, clock=lambda: FIXED_NOW, task_board=lambda _f: board)


def pressing(*keys: str) -> Callable[[Pilot[object]], Awaitable[None]]:
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare: object, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing())  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_of_a_failed_agent(snap_compare: object, size: tuple[int, int]) -> None:
    # worker-2 (failed) sorts last by name
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing("end"))  # type: ignore[operator]


def test_reset_and_start_asks_first(snap_compare: object) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=pressing("end", "r"))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_events_view(snap_compare: object, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing("3"))  # type: ignore[operator]


def test_tasks_view(snap_compare: object) -> None:
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=pressing("2"))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_log_view(snap_compare: object, size: tuple[int, int], tmp_path: Path) -> None:
    fleet = demo_fleet()
    fleet.logs_dir = tmp_path / "logs"
    (fleet.logs_dir / "api").mkdir(parents=True)
    spinner = b"".join(b"\r%s working" % frame.encode() for frame in "|/-\\|/") + b"\r\x1b[2Kready\r\n"
    requests = b"".join(b"\x1b[32mGET\x1b[0m /api/items?page=%d 200\r\n" % n for n in range(1, 41))
    (fleet.logs_dir / "api" / "run1.log").write_bytes(b"listening on 127.0.0.1:8001\r\n" + spinner + requests)

    async def open_log(pilot: Pilot[object]) -> None:
        await pressing("l")(pilot)
        await until(pilot, lambda: len(pilot.app.screen.query_one(LineView).lines) == 42, 10, "the log")
        await settle(pilot)

    assert snap_compare(demo_app(fleet), terminal_size=size, run_before=open_log)  # type: ignore[operator]
