"""Every binding, pressed in the TUI against a real fleet on a private tmux socket.

Assertions are about what a person sees or can check: a new pid after restart, a pid gone
from /proc after kill or stop (only after the confirmation), a failed agent reset and
running again, its output in the log view as the screen showed it, a message in the inbox,
a task on the board, the banner when the tmux server or the fleet file is broken.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList

from fleetctl.tui.app import FleetApp, make_app
from fleetctl.tui.screens.dialogs import ConfirmScreen, PromptScreen
from fleetctl.tui.screens.log import LogScreen
from fleetctl.tui.widgets.agent_table import AgentTable
from fleetctl.tui.widgets.line_view import LineView
from tests.conftest import FleetHarness
from tests.tui.conftest import pid_alive, run_async, screen_text, settle, until

pytestmark = pytest.mark.tmux

FLEET = """
[agents.alpha]
command = "sh -c 'echo alpha ready; while read line; do echo heard: $line; done; sleep 600'"
min_uptime = "0.2s"
stop_timeout = "2s"

[agents.beta]
command = "sh -c 'echo beta ready; exec sleep 600'"
min_uptime = "0.2s"
stop_timeout = "2s"
"""


@pytest.fixture
def fleet(fleet_dir: FleetHarness) -> FleetHarness:
    fleet_dir.write(FLEET)
    result = fleet_dir.run("up")
    assert result.code == 0, result
    return fleet_dir


def tui(fleet: FleetHarness, **kwargs: Any) -> FleetApp:
    app = make_app(fleet.fleet, refresh=3600, **kwargs)
    return remember_notifications(app)


def remember_notifications(app: FleetApp) -> FleetApp:
    """Keep every notification's text: a toast expires before a slow step's check may read it."""
    seen: list[str] = []
    notify = app.notify

    def remembered(message: str, **kwargs: Any) -> None:
        seen.append(str(message))
        notify(message, **kwargs)

    app.notify = remembered  # type: ignore[method-assign]
    app.seen = seen  # type: ignore[attr-defined]
    return app


def row(app: FleetApp, name: str) -> Any:
    return app.fleet_screen.query_one(AgentTable).rows_by_name.get(name)


def pid(fleet: FleetHarness, name: str) -> int | None:
    return fleet.status()[name]["pid"]  # type: ignore[return-value]


def messages(app: FleetApp) -> list[str]:
    return app.seen  # type: ignore[attr-defined,no-any-return]


async def observed(pilot: Any, app: FleetApp, name: str, predicate: Any, what: str) -> Any:
    """Refresh (as the timer would) until the agent's row satisfies predicate."""

    def check() -> Any:
        r = row(app, name)
        if r is not None and predicate(r):
            return r
        app.request_observe()
        return None

    try:
        return await until(pilot, check, 15, what)
    except BaseException:
        print("notifications:", messages(app), "row:", row(app, name))
        raise


@run_async
async def test_restart_gives_a_new_pid(fleet: FleetHarness) -> None:
    app = tui(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await observed(pilot, app, "alpha", lambda r: r.pid, "alpha's pid")
        assert app.fleet_screen.query_one(AgentTable).selected == "alpha"
        await pilot.press("r")
        await until(pilot, lambda: any("verified" in m for m in messages(app)), 15, "restart notification")
        after = await observed(pilot, app, "alpha", lambda r: r.pid and r.pid != first.pid, "a new pid on screen")
        assert after.state.value == "running"
        assert pid(fleet, "alpha") == after.pid
        assert not pid_alive(first.pid)


@run_async
async def test_kill_asks_first_then_sigkills(fleet: FleetHarness) -> None:
    app = tui(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        await observed(pilot, app, "beta", lambda r: r.pid, "beta's pid")
        await pilot.press("down")
        target = row(app, "beta").pid
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        assert "beta" in app.screen.question and str(target) in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert pid_alive(target), "answering no must not kill"
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: not pid_alive(target), 10, "pid gone from /proc")
        await until(pilot, lambda: any("killed" in m for m in messages(app)), 10, "kill notification")
        assert fleet.status()["beta"]["pid"] is None


@run_async
async def test_stop_asks_first_then_start_and_reset(fleet: FleetHarness) -> None:
    app = tui(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await observed(pilot, app, "alpha", lambda r: r.pid, "alpha's pid")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question.startswith(f"Stop alpha (pid {first.pid})")
        await pilot.press("n")
        await until(pilot, lambda: any("alpha was not stopped" in m for m in messages(app)), 5, "not stopped")
        assert pid_alive(first.pid), "answering no must not stop"
        await pilot.press("d", "y")
        await until(pilot, lambda: any("alpha stopped" in m for m in messages(app)), 15, "stop notification")
        await observed(pilot, app, "alpha", lambda r: r.state.value == "stopped", "alpha stopped on screen")
        assert not pid_alive(first.pid)
        await pilot.press("u")
        again = await observed(pilot, app, "alpha", lambda r: r.state.value == "running" and r.pid, "alpha running")
        assert again.pid != first.pid and pid_alive(again.pid)
        # one action per agent at a time: wait for start's own notification before the reset
        await until(
            pilot,
            lambda: any("alpha verified" in m or "alpha is running" in m for m in messages(app)),
            15,
            "start notification",
        )
        await pilot.press("z")
        await until(pilot, lambda: any("cleared" in m for m in messages(app)), 10, "reset notification")
        events = fleet.fleet().store.events(agent="alpha")
        assert any(e.kind == "reset" for e in events)


@run_async
async def test_attach_suspends_and_hands_tmux_the_window(fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def runner(argv: list[str], env: dict[str, str]) -> int:
        ran.append(argv)
        assert "TMUX" not in env
        return 0

    app = tui(fleet, attach_runner=runner)
    suspended: list[bool] = []

    @contextlib.contextmanager
    def suspend() -> Iterator[None]:  # the headless test driver cannot give up a real terminal
        suspended.append(True)
        yield

    monkeypatch.setattr(app, "suspend", suspend)
    async with app.run_test(size=(100, 30)) as pilot:
        alpha = await observed(pilot, app, "alpha", lambda r: r.window, "alpha's window")
        await pilot.press("a")
        await until(pilot, lambda: ran, 10, "tmux attach to run")
        assert suspended == [True]
        assert ran[0][:3] == ["tmux", "-L", f"fleetctl-{fleet.name}"]
        assert "attach-session" in ran[0] and alpha.window in ran[0]
        await until(pilot, lambda: any("back from alpha" in m for m in messages(app)), 5, "back notification")


@run_async
async def test_message_wake_and_add_task(fleet: FleetHarness) -> None:
    from fleetctl.bus import Bus
    from fleetctl.tasks import TaskBoard

    app = tui(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        await observed(pilot, app, "alpha", lambda r: r.pid, "alpha's pid")
        await pilot.press("m")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: [m for m in Bus(fleet.fleet()).inbox("alpha") if m.text == "hello"], 10, "inbox")
        await pilot.press("w")
        await pilot.press(*"ping", "enter")
        await until(
            pilot,
            lambda: "heard: ping" in fleet.tmux("capture-pane", "-p", "-t", "=" + fleet.name + ":alpha"),
            10,
            "the wake typed into alpha's pane",
        )
        await pilot.press("t")
        await pilot.press(*"write docs", "enter")
        await until(pilot, lambda: [t for t in TaskBoard(fleet.fleet()).list() if t.title == "write docs"], 10, "task")
        await until(pilot, lambda: any("queued" in m for m in messages(app)), 5, "task notification")


@run_async
async def test_filter_sort_views_and_quit(fleet: FleetHarness) -> None:
    app = tui(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await observed(pilot, app, "beta", lambda r: r.pid, "both agents")
        table = app.fleet_screen.query_one(AgentTable)
        assert table.order == ["alpha", "beta"]
        await pilot.press("slash", "b", "e", "t")
        assert table.order == ["beta"]
        await pilot.press("escape")
        assert table.order == ["alpha", "beta"]
        await pilot.press("o")
        assert table.sort_key == "state"
        await pilot.press("3")
        assert app.fleet_screen.query_one("#views").current == "events"
        await pilot.press("1")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, 5, "the app to quit")


@run_async
async def test_tmux_server_down_is_shown(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(FLEET)
    app = tui(fleet_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.fleet_screen.query_one("#banner")
        await until(pilot, lambda: banner.display and "not running" in str(banner.render()), 10, "the banner")
        assert row(app, "alpha").state.value == "stopped"


@run_async
async def test_broken_config_is_shown_then_recovers(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(FLEET + "\n[agents.gamma]\nport = 'not a port'\n")
    app = tui(fleet_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.fleet_screen.query_one("#banner")
        await until(pilot, lambda: banner.display and "config" in str(banner.render()), 10, "the config banner")
        assert app.is_running
        fleet_dir.write(FLEET)
        app.request_observe()
        await until(pilot, lambda: row(app, "alpha") is not None, 10, "agents after the fix")


BACKOFF_SECONDS = 1.5  # the first backoff is 1 s
FAILING = """
[agents.gamma]
command = "sh -c 'test -f {flag} || {{ echo gamma cannot start; exit 1; }}; echo gamma fixed; exec sleep 600'"
min_uptime = "0.3s"
max_respawns = 1
stop_timeout = "2s"
"""


@run_async
async def test_restart_of_a_failed_agent_offers_reset_and_start(fleet_dir: FleetHarness) -> None:
    flag = fleet_dir.path.parent / "fixed"
    fleet_dir.write(FAILING.format(flag=flag), supervisor=True)  # it respawns gamma, which fails again
    assert fleet_dir.run("up").code != 0
    app = tui(fleet_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        await observed(pilot, app, "gamma", lambda r: r.state.value == "failed", "gamma failed")
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmScreen)
        assert "gamma has failed" in app.screen.question and "Reset" in app.screen.question
        await pilot.press("n")
        await until(pilot, lambda: any("gamma was left failed" in m for m in messages(app)), 5, "left failed")
        assert fleet_dir.status()["gamma"]["state"] == "failed"
        flag.touch()  # the person fixes the cause, then resets and starts from the TUI
        # Within the backoff after the last exit (1 s here) `up` reports a reset agent as backing
        # off instead of starting it: a person takes longer than that to fix a cause.
        ended = max(e.time for e in fleet_dir.fleet().store.events(agent="gamma") if e.kind == "start-failed")
        await until(pilot, lambda: time.time() > ended + BACKOFF_SECONDS, 10, "the backoff after the last exit")
        await pilot.press("r", "y")
        running = await observed(pilot, app, "gamma", lambda r: r.state.value == "running" and r.pid, "gamma up")
        assert pid_alive(running.pid)
        await until(pilot, lambda: any("gamma reset; gamma verified" in m for m in messages(app)), 15, "notification")
        kinds = [e.kind for e in fleet_dir.fleet().store.events(agent="gamma")]
        assert kinds[kinds.index("reset") + 1 :][:2] == ["respawned", "verified"]


# Colour codes and a spinner redrawn with carriage returns, as interactive agents print them.
NOISY_SCRIPT = r"""
printf '\033[31mred\033[0m alpha ready\n'
printf 'spin |\rspin /\rspin done\n'
while read line; do echo "heard: $line"; done
"""
NOISY = """
[agents.alpha]
command = "sh {script}"
min_uptime = "0.2s"
stop_timeout = "2s"
"""


@run_async
async def test_log_view_shows_output_as_the_screen_did_and_follows(fleet_dir: FleetHarness) -> None:
    script = fleet_dir.path.parent / "noisy.sh"
    script.write_text(NOISY_SCRIPT)
    fleet_dir.write(NOISY.format(script=script))
    assert fleet_dir.run("up").code == 0
    app = tui(fleet_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await observed(pilot, app, "alpha", lambda r: r.pid, "alpha's pid")
        await pilot.press("l")
        assert isinstance(app.screen, LogScreen)
        view = app.screen.query_one(LineView)
        shown = lambda: [line.plain for line in view.lines]  # noqa: E731
        await until(pilot, lambda: "spin done" in shown(), 10, "alpha's output in the log view")
        assert shown()[:2] == ["red alpha ready", "spin done"]  # no escape codes, spinner frames collapsed
        assert not any("\x1b" in line or "spin |" in line for line in shown())
        fleet_dir.tmux("send-keys", "-t", f"={fleet_dir.name}:alpha", "-l", "more output\n")
        await until(pilot, lambda: "heard: more output" in shown(), 10, "new output, followed")
        assert view.following and "following" in screen_text(app).splitlines()[0]
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)


@run_async
async def test_palette_finds_the_log_view(fleet: FleetHarness) -> None:
    app = tui(fleet)
    async with app.run_test(size=(100, 30)) as pilot:
        await observed(pilot, app, "alpha", lambda r: r.pid, "alpha's pid")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "the command palette")
        await pilot.press(*"log")
        results = app.screen.query_one(OptionList)
        await until(
            pilot,
            lambda: results.option_count and "Show log" in str(results.get_option_at_index(0).prompt),
            5,
            "'Show log' first among the results",
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), 5, "the log view")
        assert app.screen.agent == "alpha"


@run_async
async def test_stop_from_the_tui_is_logged_as_such(fleet: FleetHarness) -> None:
    app = remember_notifications(make_app(lambda: fleet.fleet(actor="tui"), refresh=3600))
    async with app.run_test(size=(100, 30)) as pilot:
        await observed(pilot, app, "alpha", lambda r: r.pid, "alpha's pid")
        await pilot.press("d", "y")
        await until(pilot, lambda: any("alpha stopped" in m for m in messages(app)), 15, "stop notification")
        stops = [e for e in fleet.fleet().store.events(agent="alpha") if e.kind == "killed"]
        assert stops and stops[-1].data.get("by") == "tui" and "tui" in stops[-1].reason.lower()
