"""Snapshots of each view from a fixed fake fleet, at 80x24 and 120x40."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.command import CommandInput, CommandPalette
from textual.pilot import Pilot
from textual.widgets import OptionList

from fleetctl.model import AgentState, Event
from fleetctl.record import replace
from fleetctl.tui.app import FleetApp, make_app
from fleetctl.tui.widgets.agent_detail import AgentDetail
from fleetctl.tui.widgets.agent_table import AgentTable
from fleetctl.tui.widgets.line_view import LineView
from tests.tui.conftest import settle, until
from tests.tui.fakes import FIXED_NOW, FakeFleet, demo_board, demo_events, demo_fleet, demo_rows, status

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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_reset_and_start_asks_first(snap_compare: object, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing("end", "r"))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("key", ["d", "k"], ids=["stop", "kill"])
def test_stop_and_kill_ask_first(snap_compare: object, key: str, size: tuple[int, int]) -> None:
    # api (running, pid 4101) is the first row: the question names it and its pid
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing(key))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_events_view(snap_compare: object, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing("3"))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tasks_view(snap_compare: object, size: tuple[int, int]) -> None:
    # breakers belong to pools: they are in the tasks view's header, not in the agents' table
    assert snap_compare(demo_app(), terminal_size=size, run_before=pressing("2"))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_palette_searched_for_log(snap_compare: object, size: tuple[int, int]) -> None:
    async def search(pilot: Pilot[object]) -> None:
        await pressing("ctrl+p")(pilot)
        palette = await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), 5, "the palette")
        assert palette
        pilot.app.screen.query_one(CommandInput).cursor_blink = False  # a blinking cursor is not stable
        await pilot.press(*"log")
        results = pilot.app.screen.query_one(OptionList)
        await until(
            pilot,
            lambda: results.option_count and "Show log" in str(results.get_option_at_index(0).prompt),
            5,
            "'Show log' first among the results",
        )
        await settle(pilot)

    assert snap_compare(demo_app(), terminal_size=size, run_before=search)  # type: ignore[operator]


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


def truth_fleet() -> FakeFleet:
    """web without a port; zed failed after exit code 1, its pane dead (tmux says status 0: its
    wrapper's), with more events than the close-up lists."""
    rows = [replace(r, port=None) if r.name == "web" else r for r in demo_rows()]
    rows.append(
        status(
            "zed",
            AgentState.FAILED,
            window="@9",
            respawns=5,
            last_exit="code 1",
            failure_class="crashed",
            reason="gave up after 5 respawns in 10m",
        )
    )
    events = [
        Event(
            time=FIXED_NOW - 600 + 60 * i,
            kind="exited",
            agent="zed",
            reason=f"exited with code 1 (try {i})",
            id=100 + i,
        )
        for i in range(1, 10)
    ]
    # as tmux captures a dead pane: the output, the pane's blank rows, then tmux's line
    pane = "zed starting\nerror: boom" + "\n" * 40 + "Pane is dead (status 0, Tue Nov 14 22:13:00 2023)"
    return FakeFleet(rows, [*demo_events(), *events], {**demo_fleet().tmux.panes_text, "@9": pane})


def selecting(name: str) -> Callable[[Pilot[object]], Awaitable[None]]:
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        table = pilot.app.screen.query_one(AgentTable)
        table.move_to(table.order.index(name))
        await until(pilot, lambda: pilot.app.screen.query_one(AgentDetail).detail, 5, f"{name}'s close-up")
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_of_a_dead_pane_shows_the_recorded_exit_and_the_newest_events(
    snap_compare: object, size: tuple[int, int]
) -> None:
    assert snap_compare(demo_app(truth_fleet()), terminal_size=size, run_before=selecting("zed"))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_of_an_agent_without_a_port_claims_no_port(snap_compare: object, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(truth_fleet()), terminal_size=size, run_before=selecting("web"))  # type: ignore[operator]
