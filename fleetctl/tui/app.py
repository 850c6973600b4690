"""FleetApp: owns the timers and workers; the screens render what they bring back.

The UI thread never runs a subprocess or a query: observations, pane captures and every
action run in thread workers and come back as messages or notifications. Screens ask for
work with messages that bubble up here (ActionRequested, DetailWanted, …); the app hands
data down by posting to the screen. The app imports its screens, never the reverse.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual import work
from textual.app import App, SuspendNotSupported, SystemCommand
from textual.screen import Screen

from fleetctl.errors import FleetError
from fleetctl.tasks import TaskBoard
from fleetctl.tui import actions
from fleetctl.tui.format import printable
from fleetctl.tui.messages import (
    ActionRequested,
    AttachRequested,
    DetailReady,
    DetailWanted,
    LogRequested,
    SnapshotReady,
)
from fleetctl.tui.observer import BoardFactory, FleetLoader, Observer
from fleetctl.tui.screens.fleet import ACTIONS, FleetScreen
from fleetctl.tui.screens.log import LogScreen

DEFAULT_REFRESH_SECONDS = 1.0
AttachRunner = Callable[[list[str], dict[str, str]], int]


def run_attached(argv: list[str], env: dict[str, str]) -> int:
    """Hand the terminal to tmux until the person detaches."""
    return subprocess.run(argv, env=env, check=False).returncode


class FleetApp(App[None]):
    CSS_PATH = "fleet.tcss"
    TITLE = "fleetctl"
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        fleet_loader: FleetLoader,
        refresh: float = DEFAULT_REFRESH_SECONDS,
        *,
        clock: Callable[[], float] = time.time,
        attach_runner: AttachRunner = run_attached,
        task_board: BoardFactory | None = None,
    ) -> None:
        super().__init__()
        self.loader = fleet_loader
        self.refresh_s = refresh
        self.clock = clock
        self.attach_runner = attach_runner
        self.observer = Observer(fleet_loader, clock, task_board if task_board is not None else TaskBoard)
        self.busy: dict[str, str] = {}
        self.observations = 0
        self._observing = False
        self.fleet_screen = FleetScreen(clock=clock, refresh_s=refresh)

    @property
    def apply_times(self) -> deque[float]:
        """Seconds the screen took to apply each snapshot (read by bench/tui_bench.py)."""
        return self.fleet_screen.apply_times

    def get_default_screen(self) -> Screen[Any]:
        return self.fleet_screen

    def on_mount(self) -> None:
        self.set_interval(self.refresh_s, self.request_observe)
        self.set_interval(1.0, self.fleet_screen.tick)
        self.request_observe()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key binding is also in the command palette (ctrl+p)."""
        if isinstance(screen, FleetScreen):
            for key, action, _, title, help_text in ACTIONS:
                shown = "/" if key == "slash" else key
                yield SystemCommand(f"{title} ({shown})", help_text, getattr(screen, f"action_{action}"))
            for n, view in enumerate(("agents", "tasks", "events"), 1):
                yield SystemCommand(
                    f"Show {view} ({n})", f"Switch to the {view} view", lambda v=view: screen.action_view(v)
                )
        yield from super().get_system_commands(screen)

    # --- requests from the screens (messages up) ----------------------------------

    def on_action_requested(self, message: ActionRequested) -> None:
        self.start_action(message.action, message.agent, **message.kwargs)

    def on_detail_wanted(self, message: DetailWanted) -> None:
        self.request_detail(message.agent, message.rows)

    def on_attach_requested(self, message: AttachRequested) -> None:
        self.attach(message.agent)

    def on_log_requested(self, message: LogRequested) -> None:
        self.push_screen(LogScreen(message.agent, self.observer.follow_output))

    # --- observation ------------------------------------------------------------

    def request_observe(self) -> None:
        """Start an observation unless one is still running (a slow tick never piles up)."""
        if self._observing:
            return
        self._observing = True
        self._observe(self.fleet_screen.detail_agent)

    @work(thread=True, exclusive=True, group="observe")
    def _observe(self, selected: str | None) -> None:
        try:
            snapshot = self.observer.observe(selected)
        finally:
            self._observing = False
        self.observations += 1
        self.fleet_screen.post_message(SnapshotReady(snapshot))

    def request_detail(self, name: str, rows: Sequence[Any]) -> None:
        self._detail(name, list(rows))

    @work(thread=True, exclusive=True, group="detail")
    def _detail(self, name: str, rows: list[Any]) -> None:
        detail = self.observer.detail(name, rows)
        if detail is not None:
            self.fleet_screen.post_message(DetailReady(detail))

    # --- actions ------------------------------------------------------------------

    def start_action(self, action: str, agent: str, **kwargs: str) -> None:
        """Run one action in a worker; one action per agent at a time."""
        key = agent or action
        if key in self.busy:
            self.notify(
                f"{self.busy[key]} is still running for {printable(key)}",
                title=action,
                severity="warning",
                markup=False,
            )
            return
        self.busy[key] = action
        self._act(action, agent, kwargs)

    @work(thread=True, group="actions")
    def _act(self, action: str, agent: str, kwargs: dict[str, str]) -> None:
        ok, text = False, ""
        try:
            fleet = self.loader()
            try:
                text, ok = actions.ACTIONS[action](fleet, agent, **kwargs), True
            finally:
                with contextlib.suppress(Exception):
                    fleet.store.close()
        except FleetError as exc:
            text = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
        finally:
            self.busy.pop(agent or action, None)
        self.call_from_thread(self._action_done, action, agent, ok, text)

    def _action_done(self, action: str, agent: str, ok: bool, text: str) -> None:
        title = printable(f"{action} {agent}".strip())
        if ok:
            self.notify(printable(text), title=title, timeout=6, markup=False)
        else:
            self.notify(printable(text), title=title, severity="error", timeout=12, markup=False)
        self.request_observe()

    # --- attach ---------------------------------------------------------------------

    def attach(self, agent: str) -> None:
        self._attach_argv(agent)

    @work(thread=True, exclusive=True, group="attach")
    def _attach_argv(self, agent: str) -> None:
        try:
            fleet = self.loader()
            inside = os.environ.get("TMUX", "").split(",")[0] == fleet.tmux.socket_path()
            argv = fleet.attach_argv(agent, inside)
        except FleetError as exc:
            self.call_from_thread(self._attach_failed, agent, exc.message)
            return
        self.call_from_thread(self._run_attach, agent, argv, inside)

    def _attach_failed(self, agent: str, text: str) -> None:
        self.notify(printable(text), title=printable(f"attach {agent}"), severity="error", markup=False)

    def _run_attach(self, agent: str, argv: list[str], inside: bool) -> None:
        env = dict(os.environ)
        if not inside:
            env.pop("TMUX", None)
        try:
            if inside:
                code = self.attach_runner(argv, env)
            else:
                with self.suspend():
                    code = self.attach_runner(argv, env)
        except SuspendNotSupported:
            self._attach_failed(agent, f"this terminal cannot hand over to tmux; run `fleetctl attach {agent}`")
            return
        except OSError as exc:
            self._attach_failed(agent, f"could not run tmux: {exc}")
            return
        if code != 0:
            self._attach_failed(agent, f"tmux exited with code {code}")
        else:
            self.notify(f"back from {printable(agent)}", title="attach", markup=False)
        self.request_observe()


def make_app(
    fleet_loader: FleetLoader,
    refresh: float = DEFAULT_REFRESH_SECONDS,
    *,
    clock: Callable[[], float] = time.time,
    attach_runner: AttachRunner = run_attached,
    task_board: BoardFactory | None = None,
) -> FleetApp:
    """The TUI for a fleet; fleet_loader is called in workers (again after each config change).

    task_board defaults to fleetctl.tasks.TaskBoard (tests pass a fake one).
    """
    return FleetApp(fleet_loader, refresh, clock=clock, attach_runner=attach_runner, task_board=task_board)
