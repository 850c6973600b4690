"""The log view: one agent's output as its screen showed it, scrollable, following new output.

The screen owns the worker that follows the log, so leaving the screen stops it. What it
follows with is handed down (Observer.follow_output in the app, a fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from fleetctl.tui.format import printable
from fleetctl.tui.messages import OutputReady
from fleetctl.tui.widgets.key_bar import KeyBar
from fleetctl.tui.widgets.line_view import LineView

# (agent, should_stop) -> the rendered output, again each time it grows
OutputFollower = Callable[[str, Callable[[], bool]], Iterator[tuple[str, ...]]]


class LogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "back"),
        Binding("l", "close", "back", show=False),
        Binding("f", "follow", "follow"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, agent: str, follow: OutputFollower) -> None:
        super().__init__()
        self.agent = agent
        self.follow = follow
        self.received = False

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="log-title")
        yield LineView(id="log-lines")
        yield KeyBar([("escape", "back"), ("f", "follow (End)"), ("up", "scroll"), ("q", "quit")], id="log-keys")

    def on_mount(self) -> None:
        self.query_one(LineView).focus()
        self._follow()

    @work(thread=True, exclusive=True, group="log")
    def _follow(self) -> None:
        worker = get_current_worker()
        try:
            for lines in self.follow(self.agent, lambda: worker.is_cancelled):
                if worker.is_cancelled:
                    return
                self.post_message(OutputReady(self.agent, lines))
        except Exception as exc:
            self.post_message(OutputReady(self.agent, (f"could not read the log: {type(exc).__name__}: {exc}",)))

    def on_output_ready(self, message: OutputReady) -> None:
        self.received = True
        self.query_one(LineView).set_lines([printable(line) for line in message.lines])
        self._show_title()

    def on_line_view_scrolled(self) -> None:
        self._show_title()

    def action_close(self) -> None:
        self.dismiss()

    def action_follow(self) -> None:
        self.query_one(LineView).follow()
        self._show_title()

    def _show_title(self) -> None:
        self.query_one("#log-title", Static).update(self._title())

    def _title(self) -> Text:
        text = Text(f" {printable(self.agent)} ", style="bold reverse")
        text.append(" output as its screen showed it", style="dim")
        views = self.query(LineView)
        if not views or not self.received:
            text.append("  reading…", style="dim")
            return text
        view = views.first()
        if not view.lines:
            text.append("  no output yet", style="dim")
        elif view.following:
            text.append(f"  {len(view.lines)} lines, following", style="green")
        else:
            text.append(f"  {len(view.lines)} lines, scrolled up (f follows)", style="yellow")
        return text
